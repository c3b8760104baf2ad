// Package pgtest gives tests a throwaway PostgreSQL server: the one named by
// TOKENWARD_TEST_POSTGRES, or one it starts itself with initdb and pg_ctl in a
// temporary folder on a free loopback port (as the postgres user when running
// as root, because initdb refuses root) and removes afterwards. Each test gets
// a database of its own.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// EnvDSN names the variable that points the tests at an existing server. The
// role it names must be allowed to create databases.
const EnvDSN = "TOKENWARD_TEST_POSTGRES"

// Server is a PostgreSQL server the tests may create databases on.
type Server struct {
	dsn        string // maintenance database URL
	binDir     string
	dir        string // set when this package started the server
	asPostgres bool
	password   string // set by StartWithPasswords: TCP logins check passwords
}

// ErrNoBinaries means neither TOKENWARD_TEST_POSTGRES nor the PostgreSQL
// binaries are available.
var ErrNoBinaries = errors.New("no PostgreSQL: set " + EnvDSN + " or install PostgreSQL (initdb, pg_ctl) — on Debian: apt-get install postgresql")

// Start returns the server named by TOKENWARD_TEST_POSTGRES, or starts one.
func Start() (*Server, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		bin, _ := findBinDir()
		return &Server{dsn: dsn, binDir: bin}, nil
	}
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	reapStale(bin)
	s := &Server{binDir: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("start postgres as root: initdb refuses root and there is no postgres user: %w", err)
		}
		s.asPostgres = true
	}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// findBinDir finds the folder holding initdb: on PATH, or Debian's versioned
// folders, newest first.
func findBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi > vj
	})
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	return "", ErrNoBinaries
}

func (s *Server) start() error {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.dir = dir
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	if s.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("start postgres: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fmt.Errorf("start postgres: hand %s to the postgres user: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	initArgs := []string{"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"}
	if s.password != "" {
		pwfile := filepath.Join(dir, "pwfile")
		if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o644); err != nil {
			return fmt.Errorf("start postgres: %w", err)
		}
		initArgs = append(initArgs, "--auth-host=scram-sha-256", "--pwfile="+pwfile)
	}
	if out, err := s.command("initdb", initArgs...).CombinedOutput(); err != nil {
		return fmt.Errorf("start postgres: initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
	if out, err := s.command("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "log"))
		return fmt.Errorf("start postgres: pg_ctl start: %w\n%s\n%s", err, out, logs)
	}
	s.dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if s.password != "" {
		s.dsn = fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", s.password, port)
	}
	return nil
}

// StartWithPasswords is Start for tests of password logins: the server it
// starts checks passwords on TCP (scram-sha-256 in pg_hba.conf; Start's trust
// ignores them) and its superuser postgres has a random password, which the
// URLs of NewDatabase carry. A server named by TOKENWARD_TEST_POSTGRES is
// used as it is: its host authentication is the caller's to check.
func StartWithPasswords() (*Server, error) {
	if os.Getenv(EnvDSN) != "" {
		return Start()
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	reapStale(bin)
	s := &Server{binDir: bin, password: hex.EncodeToString(b[:])}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("start postgres as root: initdb refuses root and there is no postgres user: %w", err)
		}
		s.asPostgres = true
	}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

const (
	dirPrefix = "tokenward-pg-"
	ownerFile = "owner.pid" // the test process the server belongs to
)

// reapStale stops and removes the servers of test processes that died
// without stopping them (killed by a -timeout, say). Servers whose test
// process still runs, such as another package's tests in parallel, stay.
func reapStale(binDir string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || alive(pid) {
			continue
		}
		old := &Server{binDir: binDir, dir: dir, asPostgres: os.Geteuid() == 0}
		old.Stop()
	}
}

// alive tells whether a process runs.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

// command runs a PostgreSQL binary, as the postgres user when needed.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(s.binDir, name)
	if s.asPostgres {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop stops a server this package started and removes its folder.
func (s *Server) Stop() {
	if s == nil || s.dir == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(s.dir, "data", "postmaster.pid")); err == nil {
		_ = s.command("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop").Run()
	}
	_ = os.RemoveAll(s.dir)
}

// Bin returns the path of a PostgreSQL client program such as pg_dump.
func (s *Server) Bin(name string) (string, error) {
	if s.binDir != "" {
		p := filepath.Join(s.binDir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// NewDatabase creates an empty database for one test, dropped when it ends,
// and returns its URL. With no server it skips the test, saying why, or
// fails it under CI, where PostgreSQL must run.
func (s *Server) NewDatabase(tb testing.TB, why error) string {
	tb.Helper()
	if s == nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("PostgreSQL is required under CI: %v", why)
		}
		tb.Skipf("SKIPPING POSTGRES: %v", why)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "tw_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", s.dsn)
	if err != nil {
		tb.Fatalf("connect to test postgres: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("pgx", s.dsn)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(s.dsn)
	if err != nil {
		tb.Fatalf("test postgres URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
