package issuer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/issuer/issuertest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store/pgtest"
)

// The servers start once, on first use, and stop when the package's tests
// end: their start-up is the slow part of these tests.
var servers struct {
	pgOnce sync.Once
	pg     *pgtest.Server
	pgErr  error

	mariaOnce sync.Once
	maria     *issuertest.MariaDB
	mariaErr  error

	redisOnce [3]sync.Once
	redis     [3]*issuertest.Redis
	redisErr  [3]error
}

func TestMain(m *testing.M) {
	// Start every server at once in the background: their start-ups then
	// overlap, and a test waits only for the one it needs.
	var started sync.WaitGroup
	started.Add(3)
	go func() { defer started.Done(); startPostgres() }()
	go func() { defer started.Done(); startMaria() }()
	go func() { defer started.Done(); startRedis(issuertest.RedisConfigFile) }()
	code := m.Run()
	started.Wait()
	servers.pg.Stop()
	servers.maria.Stop()
	for _, r := range servers.redis {
		r.Stop()
	}
	os.Exit(code)
}

// postgresServer is a PostgreSQL that checks passwords on TCP.
func postgresServer(tb testing.TB) *pgtest.Server {
	startPostgres()
	if servers.pg == nil {
		// NewDatabase skips, or fails under CI, saying why.
		servers.pg.NewDatabase(tb, servers.pgErr)
	}
	return servers.pg
}

func mariaServer(tb testing.TB) *issuertest.MariaDB {
	startMaria()
	issuertest.Require(tb, servers.mariaErr)
	return servers.maria
}

func redisServer(tb testing.TB, files issuertest.RedisFiles) *issuertest.Redis {
	startRedis(files)
	issuertest.Require(tb, servers.redisErr[files])
	return servers.redis[files]
}

func startPostgres() {
	servers.pgOnce.Do(func() { servers.pg, servers.pgErr = pgtest.StartWithPasswords() })
}

func startMaria() {
	servers.mariaOnce.Do(func() { servers.maria, servers.mariaErr = issuertest.StartMariaDB() })
}

func startRedis(files issuertest.RedisFiles) {
	servers.redisOnce[files].Do(func() { servers.redis[files], servers.redisErr[files] = issuertest.StartRedis(files) })
}

// suffix makes names unique across the tests sharing one server.
func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// password is a fresh password with characters that need escaping in URLs.
func password() string { return "p@ss:/?#%+" + suffix() + suffix() }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
