package server

import (
	"context"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// This file is the contract between the verification endpoints and what
// watches them (issue 14): every verification becomes a store.UsageEvent
// handed to each EventSink (the usage log's recorder, the detectors), and
// whatever raises an alert (the detectors, the leak endpoints) hands it to
// an AlertRaiser.

// EventSink receives the usage event of every verification. Record must
// never block verification: a sink queues, and counts what it must drop.
type EventSink interface {
	Record(ev store.UsageEvent)
}

// AlertRaiser takes an alert to where people look: the store, the metrics,
// the audit chain (high and critical), the webhook. Raise deduplicates per
// (detector, token, network) per window and never blocks on the network.
type AlertRaiser interface {
	Raise(ctx context.Context, a store.Alert)
}

// WithEventSinks adds sinks that receive every verification's usage event.
func WithEventSinks(sinks ...EventSink) Option {
	return func(s *Server) { s.sinks = append(s.sinks, sinks...) }
}

// WithAlerts sets where the server's own findings (a leak report, say) are
// raised.
func WithAlerts(a AlertRaiser) Option { return func(s *Server) { s.alerts = a } }

// WithRegistryAccess sets the registry of the endpoints that read or write more
// than the snapshot: the alerts, leak responses and the configuration API.
// access says what it may do; without one those endpoints answer 503.
func WithRegistryAccess(reg *registry.Registry, access registry.ServeAccess) Option {
	return func(s *Server) { s.reg, s.access = reg, access }
}
