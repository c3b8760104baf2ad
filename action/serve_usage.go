package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/server"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// The usage log of tokenward serve (issue 14): its flags, the recorder that
// writes every verification's event to the store, and the maintenance of
// the log (partitions ahead, retention) the server runs when it may.

// Usage log defaults of serve.
const (
	defaultUsageRetention = 90 * duration.Day
	usagePartitionsAhead  = 7 // days
	usageMaintainEvery    = time.Hour
)

// usageFlags are serve's flags of the usage log.
type usageFlags struct {
	instance  *string
	on        *bool
	queue     *int
	retention *time.Duration
}

// usageLogFlags defines serve's usage log flags on fs.
func usageLogFlags(fs *flag.FlagSet) *usageFlags {
	host, _ := os.Hostname() // no host name: events name no instance
	retention := defaultUsageRetention
	f := &usageFlags{
		instance:  fs.String("instance", host, "the name of this server in the usage log; the host name by default"),
		on:        fs.Bool("usage-log", true, "log every verification in the store's usage log; --usage-log=false turns it off"),
		queue:     fs.Int("usage-queue", server.DefaultUsageQueue, "usage events that may wait to be written; past that they are dropped and counted"),
		retention: &retention,
	}
	fs.Var(retentionValue{f.retention}, "usage-retention", "how long usage events are kept, such as 90d or 2w; 0 keeps them forever")
	return f
}

// retentionValue is a duration flag that takes days and weeks.
type retentionValue struct{ d *time.Duration }

func (v retentionValue) String() string {
	if v.d == nil {
		return ""
	}
	return duration.Format(*v.d)
}

func (v retentionValue) Set(s string) error {
	d, err := duration.Parse(strings.TrimSpace(s))
	if err != nil {
		return errors.New("must be a duration such as 90d, 2w or 36h, or 0 to keep events forever")
	}
	*v.d = d
	return nil
}

// check refuses flag values that cannot work.
func (f *usageFlags) check() error {
	if *f.queue <= 0 {
		return fmt.Errorf("--usage-queue must be positive, such as %d", server.DefaultUsageQueue)
	}
	return nil
}

// usageLog is the usage log of one serve: what the server does with its
// events and what /readyz says of it.
type usageLog struct {
	rec  *server.Recorder // nil when off
	off  string           // why it is off; empty when on
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}

	mu          sync.Mutex
	maintenance string // why maintenance fails; empty when it works
}

// startUsageLog starts the usage log of a server on reg: the recorder, and
// the maintenance at start and every hour. A store the server may only
// read, or --usage-log=false, turns it off, saying why in the log and in
// /readyz; so does a store without a usage log. A role that may not
// maintain the log leaves the events logged and says so.
func startUsageLog(ctx context.Context, f *usageFlags, reg *registry.Registry, access registry.ServeAccess, log *slog.Logger) *usageLog {
	u := &usageLog{log: log, done: make(chan struct{})}
	var ul store.UsageLog
	var err error
	switch {
	case !*f.on:
		u.off = "--usage-log=false"
	case !access.Writable:
		u.off = "the store is read-only: " + access.ReadOnlyWhy
	default:
		if ul, err = reg.UsageLog(); err != nil {
			u.off = err.Error()
		}
	}
	if u.off != "" {
		close(u.done)
		if *f.on {
			log.Warn("the usage log is off", "why", u.off)
		}
		return u
	}
	u.rec = server.NewRecorder(ul, server.WithUsageQueue(*f.queue), server.WithRecorderLogger(log),
		server.WithDropReport(time.Minute, func(ctx context.Context, d server.DroppedUsage) error {
			return reg.RecordUsageDropped(ctx, d.Count, d.Since)
		}))
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	u.stop = stop
	go u.maintain(mctx, reg, *f.retention)
	return u
}

// option is the server's option of the usage log: its sink, the instance
// name and what /readyz says.
func (u *usageLog) option(instance string) server.Option {
	opts := []server.Option{server.WithInstance(instance), server.WithUsageLogStatus(u.status)}
	if u.rec != nil {
		opts = append(opts, server.WithEventSinks(u.rec))
	}
	return func(s *server.Server) {
		for _, o := range opts {
			o(s)
		}
	}
}

// status is what /readyz says of the usage log.
func (u *usageLog) status() string {
	if u.rec == nil {
		return "off (" + u.off + ")"
	}
	s := u.rec.Status()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.maintenance != "" {
		s += "; maintenance fails: " + u.maintenance
	}
	return s
}

// maintain runs the log's maintenance at start and every hour until ctx
// ends.
func (u *usageLog) maintain(ctx context.Context, reg *registry.Registry, retention time.Duration) {
	defer close(u.done)
	t := time.NewTicker(usageMaintainEvery)
	defer t.Stop()
	for {
		u.maintainOnce(ctx, reg, retention)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// maintainOnce creates the partitions a week ahead and prunes past
// retention. A failure is logged once (again only when its reason
// changes) and shown in /readyz: verification goes on either way.
func (u *usageLog) maintainOnce(ctx context.Context, reg *registry.Registry, retention time.Duration) {
	p, err := reg.MaintainUsage(ctx, retention, usagePartitionsAhead)
	if ctx.Err() != nil {
		return
	}
	why := ""
	if err != nil {
		why = maintenanceFailure(err)
	}
	u.mu.Lock()
	was := u.maintenance
	u.maintenance = why
	u.mu.Unlock()
	switch {
	case why != "" && why != was:
		u.log.Warn("usage log maintenance fails; events are still logged", "why", why)
	case why == "" && was != "":
		u.log.Info("usage log maintenance works again")
	}
	if err == nil && p.Count > 0 {
		u.log.Info("usage log: events past retention removed", "count", p.Count,
			"from", p.From.UTC().Format(time.RFC3339), "to", p.To.UTC().Format(time.RFC3339))
	}
}

// maintenanceFailure says why maintenance failed, and for a PostgreSQL role
// without the grant, which grant it lacks.
func maintenanceFailure(err error) string {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) && pg.SQLState() == "42501" {
		return fmt.Sprintf("%v: the server's role needs EXECUTE on the functions usage_events_partition and usage_events_drop_partition, "+
			"and the audit chain's grants (INSERT on audit_events, UPDATE on audit_head) for the record of what was pruned; "+
			"or run tokenward usage maintain on a schedule with a role that has them", err)
	}
	return err.Error()
}

// close writes what is queued, within timeout, and stops the maintenance.
func (u *usageLog) close(timeout time.Duration) error {
	if u.stop != nil {
		u.stop()
	}
	<-u.done
	if u.rec == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return u.rec.Close(ctx)
}
