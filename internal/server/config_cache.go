package server

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// The configuration API answers reads from memory: a bounded cache of users'
// effective configurations, rendered, kept current by following the
// store's change log. A request answers from the cache only while the log
// was read less than configFresh ago and the snapshot source saw no change
// since; up to configMaxAge it answers and has the log read in the
// background; past that (an idle server, a change announced) it reads the
// log first. So a cached answer is never older than configMaxAge after a
// change was committed on any instance, plus the time to read the log.
const (
	configFresh  = 250 * time.Millisecond
	configMaxAge = 750 * time.Millisecond
	// configPage is how many changes one read of the log takes.
	configPage = 1000
	// configResync: a log not read for this long may have been pruned
	// past what was seen (it keeps at least 24 hours), so the cache is
	// emptied and follows from the log's head.
	configResync = time.Hour
	// DefaultConfigCacheUsers bounds the users whose configuration the
	// cache holds.
	DefaultConfigCacheUsers = 16384
)

// cachedConfig is one user's effective configuration, rendered for both
// kinds of reader.
type cachedConfig struct {
	uc        registry.UserConfig
	full      []byte   // with sensitive values, for tokenward:config-read-sensitive
	redacted  []byte   // sensitive values null; the same slice as full when there are none
	sensitive []string // the keys of sensitive settings, for the audit of a read
}

func newCachedConfig(uc registry.UserConfig) (*cachedConfig, error) {
	e := &cachedConfig{uc: uc}
	for _, v := range uc.Values {
		if v.Sensitive {
			e.sensitive = append(e.sensitive, v.Key)
		}
	}
	var err error
	if e.redacted, err = renderUserConfig(uc, false); err != nil {
		return nil, err
	}
	e.full = e.redacted
	if len(e.sensitive) > 0 {
		if e.full, err = renderUserConfig(uc, true); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// value is the user's value of key, if a setting has it.
func (e *cachedConfig) value(key string) (registry.ConfigValue, bool) {
	for _, v := range e.uc.Values {
		if v.Key == key {
			return v, true
		}
	}
	return registry.ConfigValue{}, false
}

// polled is the state of the change log as last read.
type polled struct {
	at            time.Time // when the read began (wall clock, monotonic)
	invalidations int64     // the snapshot source's count before it
}

// configCache is the cache; safe for concurrent use.
type configCache struct {
	st   ConfigStore
	src  Snapshots
	max  int
	last atomic.Pointer[polled]

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheItem
	lru     *list.List               // front: most recently used
	epoch   uint64                   // moves at every eviction, so a read that raced one is not kept

	pollMu  sync.Mutex // one read of the log at a time
	seq     int64      // the last change seen; under pollMu
	started bool       // under pollMu

	behind       atomic.Bool // a background read is under way
	hits, misses atomic.Int64
}

type cacheItem struct {
	user string
	e    *cachedConfig
}

func newConfigCache(st ConfigStore, src Snapshots, max int) *configCache {
	return &configCache{st: st, src: src, max: max, entries: map[string]*list.Element{}, lru: list.New()}
}

// get returns user's effective configuration, from the cache when it is
// current.
func (c *configCache) get(ctx context.Context, user string) (*cachedConfig, error) {
	if err := c.follow(ctx); err != nil {
		// The log cannot be read, so the cache cannot be trusted: read
		// the store itself, which fails too when it is unreachable.
		c.misses.Add(1)
		uc, err := c.st.ReadUserConfig(ctx, user, true)
		if err != nil {
			return nil, err
		}
		return newCachedConfig(uc)
	}
	c.mu.Lock()
	if el, ok := c.entries[user]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheItem).e
		c.mu.Unlock()
		c.hits.Add(1)
		return e, nil
	}
	epoch := c.epoch
	c.mu.Unlock()
	c.misses.Add(1)
	uc, err := c.st.ReadUserConfig(ctx, user, true)
	if err != nil {
		return nil, err
	}
	e, err := newCachedConfig(uc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return e, nil // a change came in while reading: this read may predate it
	}
	if el, ok := c.entries[user]; ok {
		el.Value.(*cacheItem).e = e
		c.lru.MoveToFront(el)
		return e, nil
	}
	c.entries[user] = c.lru.PushFront(&cacheItem{user: user, e: e})
	for c.lru.Len() > c.max {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheItem).user)
	}
	return e, nil
}

// evict drops user's configuration ("" drops every user's).
func (c *configCache) evict(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if user == "" {
		clear(c.entries)
		c.lru.Init()
		return
	}
	if el, ok := c.entries[user]; ok {
		c.lru.Remove(el)
		delete(c.entries, user)
	}
}

// len is the number of users cached.
func (c *configCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// follow makes sure the cache reflects the change log as read less than
// configMaxAge ago, reading it when it must.
func (c *configCache) follow(ctx context.Context) error {
	last := c.last.Load()
	if last != nil && c.src.Status().Invalidations == last.invalidations {
		switch age := time.Since(last.at); {
		case age < configFresh:
			return nil
		case age < configMaxAge:
			if c.behind.CompareAndSwap(false, true) {
				go c.pollBehind()
			}
			return nil
		}
	}
	return c.poll(ctx, time.Now())
}

// pollBehind reads the log in the background, unless a read runs already.
func (c *configCache) pollBehind() {
	defer c.behind.Store(false)
	if !c.pollMu.TryLock() {
		return
	}
	defer c.pollMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.read(ctx) // a failure shows at the next request, which reads itself
}

// poll reads the log, unless a read that began after asked did meanwhile.
func (c *configCache) poll(ctx context.Context, asked time.Time) error {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	if last := c.last.Load(); last != nil && !last.at.Before(asked) {
		return nil
	}
	return c.read(ctx)
}

// read reads the changes after the last one seen and evicts whose
// configuration they changed. Under pollMu.
func (c *configCache) read(ctx context.Context) error {
	p := &polled{at: time.Now(), invalidations: c.src.Status().Invalidations}
	if last := c.last.Load(); !c.started || last == nil || p.at.Sub(last.at) > configResync {
		_, head, err := c.st.ConfigChangeWindow(ctx)
		if err != nil {
			return fmt.Errorf("read the configuration change log: %w", err)
		}
		c.evict("")
		c.seq, c.started = head, true
		c.last.Store(p)
		return nil
	}
	for {
		changes, err := c.st.ConfigChanges(ctx, c.seq, configPage)
		if err != nil {
			return fmt.Errorf("read the configuration change log: %w", err)
		}
		for _, ch := range changes {
			c.evict(ch.User)
			c.seq = max(c.seq, ch.Seq)
		}
		if len(changes) < configPage {
			break
		}
	}
	c.last.Store(p)
	return nil
}
