// Package issuertest gives tests throwaway MariaDB and Redis servers, started
// from Debian's packages (mariadb-server, redis-server) in a temporary folder
// on a free loopback port and removed by Stop. Each has an administrative
// account with a random password, reached over TCP, so that tests log in
// with passwords as consumers do. (PostgreSQL's is internal/store/pgtest.)
// With no binaries, Require skips a test, or fails it under CI.
package issuertest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// startTimeout bounds a server's start-up.
const startTimeout = 60 * time.Second

// Require skips tb when a server could not start (err says why), or fails it
// under CI, where the servers must run.
func Require(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("required under CI: %v", err)
	}
	tb.Skipf("SKIPPING: %v", err)
}

// ErrNoMariaDB means mariadb-install-db or mariadbd is missing.
var ErrNoMariaDB = errors.New("no MariaDB: install mariadb-server (apt-get install mariadb-server)")

// ErrNoRedis means redis-server is missing.
var ErrNoRedis = errors.New("no Redis: install redis-server (apt-get install redis-server)")

// MariaDB is a running mariadbd.
type MariaDB struct {
	// AdminDSN is root's DSN over TCP, in the Go driver's form.
	AdminDSN string
	// GeneralLog is the general query log's path: every statement the
	// server received.
	GeneralLog string
	dir        string
	cmd        *exec.Cmd
}

// StartMariaDB initialises a data folder and starts mariadbd on it (as the
// mysql user when running as root), with the general query log on.
func StartMariaDB() (*MariaDB, error) {
	install, err1 := exec.LookPath("mariadb-install-db")
	daemon, err2 := findDaemon()
	if err1 != nil || err2 != nil {
		return nil, ErrNoMariaDB
	}
	reapStale("tokenward-mariadb-")
	dir, err := os.MkdirTemp("", "tokenward-mariadb-")
	if err != nil {
		return nil, fmt.Errorf("start mariadb: %w", err)
	}
	m := &MariaDB{dir: dir, GeneralLog: filepath.Join(dir, "general.log")}
	if err := m.start(install, daemon); err != nil {
		m.Stop()
		return nil, err
	}
	return m, nil
}

func findDaemon() (string, error) {
	if p, err := exec.LookPath("mariadbd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/mariadbd", "/usr/sbin/mysqld"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoMariaDB
}

func (m *MariaDB) start(install, daemon string) error {
	if err := writeOwner(m.dir); err != nil {
		return fmt.Errorf("start mariadb: %w", err)
	}
	var asUser []string
	if os.Geteuid() == 0 {
		// mariadbd refuses to run as root unless told which user to be.
		u, err := user.Lookup("mysql")
		if err != nil {
			return fmt.Errorf("start mariadb as root: no mysql user to run as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(m.dir, uid, gid); err != nil {
			return fmt.Errorf("start mariadb: %w", err)
		}
		asUser = []string{"--user=mysql"}
	}
	data := filepath.Join(m.dir, "data")
	args := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}, asUser...)
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("start mariadb: mariadb-install-db: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("start mariadb: %w", err)
	}
	sock := filepath.Join(m.dir, "sock")
	args = append([]string{"--no-defaults", "--datadir=" + data, "--socket=" + sock, "--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1", "--skip-name-resolve", "--pid-file=" + filepath.Join(m.dir, "pid"),
		"--log-error=" + filepath.Join(m.dir, "error.log"), "--general-log=1", "--general-log-file=" + m.GeneralLog,
		"--innodb-buffer-pool-size=16M", "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0"}, asUser...)
	m.cmd = exec.Command(daemon, args...)
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("start mariadb: %w", err)
	}
	// root@localhost has no password (normal authentication) on the socket;
	// the tests get a root over TCP with a random password instead.
	sockCfg := mysql.NewConfig()
	sockCfg.User, sockCfg.Net, sockCfg.Addr, sockCfg.Timeout = "root", "unix", sock, 5*time.Second
	connector, err := mysql.NewConnector(sockCfg)
	if err != nil {
		return fmt.Errorf("start mariadb: %w", err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) || m.exited() {
			logs, _ := os.ReadFile(filepath.Join(m.dir, "error.log"))
			return fmt.Errorf("start mariadb: not answering: %w\n%s", err, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pw := randomHex(12)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range []string{
		// Anonymous users would shadow the tests' 'user'@'%' accounts.
		"DELETE FROM mysql.global_priv WHERE User = ''",
		"FLUSH PRIVILEGES",
		"CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY '" + pw + "'",
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("start mariadb: set up the admin: %w", err)
		}
	}
	m.AdminDSN = fmt.Sprintf("root:%s@tcp(127.0.0.1:%d)/", pw, port)
	return nil
}

func (m *MariaDB) exited() bool {
	return m.cmd.ProcessState != nil || m.cmd.Process.Signal(syscall.Signal(0)) != nil
}

// Stop stops the server and removes its folder.
func (m *MariaDB) Stop() {
	if m == nil {
		return
	}
	stop(m.cmd)
	_ = os.RemoveAll(m.dir)
}

// RedisFiles says where a Redis server started by StartRedis keeps its
// ACL users, which decides how a change is persisted.
type RedisFiles int

const (
	// RedisConfigFile: users in redis.conf; CONFIG REWRITE persists.
	RedisConfigFile RedisFiles = iota
	// RedisACLFile: users in an aclfile; ACL SAVE persists.
	RedisACLFile
	// RedisNoFile: settings on the command line; changes live in memory.
	RedisNoFile
)

// Redis is a running redis-server.
type Redis struct {
	// AdminURL logs in as the default user, which may do everything.
	AdminURL string
	// ConfigFile and ACLFile are the files the server persists to ("" when
	// it has none).
	ConfigFile, ACLFile string
	dir                 string
	cmd                 *exec.Cmd
}

// StartRedis starts redis-server on a free loopback port with no
// persistence of data, keeping its users as files says.
func StartRedis(files RedisFiles) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	reapStale("tokenward-redis-")
	dir, err := os.MkdirTemp("", "tokenward-redis-")
	if err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	r := &Redis{dir: dir}
	if err := r.start(bin, files); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

func (r *Redis) start(bin string, files RedisFiles) error {
	if err := writeOwner(r.dir); err != nil {
		return fmt.Errorf("start redis: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("start redis: %w", err)
	}
	pw := randomHex(12)
	sum := sha256.Sum256([]byte(pw))
	defaultUser := "user default on #" + hex.EncodeToString(sum[:]) + " ~* &* +@all\n"
	pidfile, logfile := filepath.Join(r.dir, "pid"), filepath.Join(r.dir, "log")
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\nlogfile %s\npidfile %s\n", port, r.dir, logfile, pidfile)
	var args []string
	switch files {
	case RedisConfigFile:
		r.ConfigFile = filepath.Join(r.dir, "redis.conf")
		conf += defaultUser
	case RedisACLFile:
		r.ConfigFile = filepath.Join(r.dir, "redis.conf")
		r.ACLFile = filepath.Join(r.dir, "users.acl")
		conf += "aclfile " + r.ACLFile + "\n"
		if err := os.WriteFile(r.ACLFile, []byte(defaultUser), 0o600); err != nil {
			return fmt.Errorf("start redis: %w", err)
		}
	case RedisNoFile:
		args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", r.dir, "--logfile", logfile, "--pidfile", pidfile, "--requirepass", pw}
	}
	if r.ConfigFile != "" {
		if err := os.WriteFile(r.ConfigFile, []byte(conf), 0o600); err != nil {
			return fmt.Errorf("start redis: %w", err)
		}
		args = []string{r.ConfigFile}
	}
	r.cmd = exec.Command(bin, args...)
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis: %w", err)
	}
	r.AdminURL = fmt.Sprintf("redis://default:%s@127.0.0.1:%d/0", pw, port)
	opts, err := redis.ParseURL(r.AdminURL)
	if err != nil {
		return fmt.Errorf("start redis: %w", err)
	}
	opts.DialTimeout, opts.MaxRetries = time.Second, -1
	client := redis.NewClient(opts)
	defer client.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || r.cmd.Process.Signal(syscall.Signal(0)) != nil {
			logs, _ := os.ReadFile(filepath.Join(r.dir, "log"))
			return fmt.Errorf("start redis: not answering: %w\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server and removes its folder.
func (r *Redis) Stop() {
	if r == nil {
		return
	}
	stop(r.cmd)
	_ = os.RemoveAll(r.dir)
}

// stop ends a server: SIGTERM, then SIGKILL if it has not exited in 10 s.
func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

const ownerFile = "owner.pid" // the test process the server belongs to

func writeOwner(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// reapStale kills the servers of test processes that died without
// stopping them (killed by a -timeout, say) and removes their folders.
// Servers whose test process still runs, another package's say, stay.
func reapStale(prefix string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || alive(owner) {
			continue
		}
		if pid, ok := serverPID(dir); ok {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
		_ = os.RemoveAll(dir)
	}
}

// serverPID reads the server's pid file, trusting it only while that
// process is still a MariaDB or Redis server (pids are reused).
func serverPID(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	name := string(comm)
	return pid, strings.Contains(name, "mariadbd") || strings.Contains(name, "mysqld") || strings.Contains(name, "redis")
}

func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
