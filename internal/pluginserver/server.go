// Package pluginserver serves a terraform-plugin-framework provider over
// Terraform's plugin protocol 6, as providerserver.Serve does, with the
// framework's per-request memory leak worked around.
//
// terraform-plugin-framework v1.19.0 registers every request's context in
// internal/proto6server (Server.registerContext, serve.go): it wraps the
// context with context.WithCancel and appends the cancel function to a list
// that only StopProvider empties (cancelRegisteredContexts). So every
// request's context, with its loggers and gRPC stream values, stays
// reachable until the process exits: a plan of 1,000 resources keeps about
// 100 MB live and the collector runs almost without pause. StopProvider does
// nothing else: it cancels the registered contexts and forgets them.
//
// Server wraps the framework's server. Every RPC passes through it, and
// every RPC it passes to the framework is counted in flight until it
// returns, or, for a streaming RPC, until its stream ends (a shortcut's
// answers never reach the framework and are not counted). After every few hundred finished RPCs, at a moment when none
// is in flight, it calls the framework's StopProvider itself, holding new
// RPCs back until the call returns: it cancels only contexts of requests
// that have finished, and the framework forgets them. A real StopProvider
// from Terraform passes through unchanged.
//
// The workaround can go when the framework no longer keeps a finished
// request's context: TestFrameworkKeepsFinishedContextsUntilStop fails
// then, and says so.
//
// A provider that is a ShortcutProvider also has the RPCs of an unchanged
// resource answered without the framework (shortcut.go): the leak's
// workaround made a plan no slower than a do-nothing framework provider,
// and the shortcut makes it faster than one.
package pluginserver

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"
)

// Framework is every RPC of protocol 6, as the framework's server
// implements them: tfprotov6.ProviderServer leaves the list resource,
// action and state store RPCs to optional interfaces for now.
type Framework interface {
	tfprotov6.ProviderServer
	tfprotov6.ListResourceServer
	tfprotov6.ActionServer
	tfprotov6.StateStoreServer
}

// DefaultForgetEvery is how many finished RPCs pass between two attempts to
// let the framework forget their contexts. A plan makes three or four RPCs
// for each resource, and a finished context keeps its loggers and gRPC
// values: at 256 the finished contexts' loggers were about 4 of the 9 MB a
// plan's provider held live (heap profile of a plan of 1,000 tokens), and
// the collector lets the heap grow to a multiple of what is live. A
// StopProvider with nothing in flight costs next to nothing, so the wrapper
// tries often (see main.go for the figures).
const DefaultForgetEvery = 64

// A Server is a Framework, so tf6server finds every optional RPC on it.
var _ Framework = (*Server)(nil)

// Server is a protocol 6 provider server that passes every RPC to the
// framework's and lets the framework forget finished requests' contexts.
// It does not embed Framework: an RPC added to the protocol fails to
// compile here rather than reach the framework without being counted.
type Server struct {
	inner Framework
	every int64

	// gate is held for reading by every RPC in flight (a streaming one
	// until its stream ends) and for writing while the framework forgets.
	gate     sync.RWMutex
	finished atomic.Int64 // RPCs finished since the framework last forgot

	shortcut Shortcut // answers some RPCs first; nil for none
	check    bool     // WithShortcutCheck
	shortcutStats
}

// Option configures a Server.
type Option func(*Server)

// WithForgetEvery sets how many RPCs finish between two attempts to let the
// framework forget their contexts; DefaultForgetEvery unless set.
func WithForgetEvery(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.every = int64(n)
		}
	}
}

// New wraps the framework's server.
func New(inner Framework, opts ...Option) *Server {
	s := &Server{inner: inner, every: DefaultForgetEvery}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewProtocol6WithError is providerserver.NewProtocol6WithError with the
// server wrapped, for terraform-plugin-testing's provider factories. A
// provider that is a ShortcutProvider has its shortcut answer first.
func NewProtocol6WithError(p provider.Provider, opts ...Option) func() (tfprotov6.ProviderServer, error) {
	return func() (tfprotov6.ProviderServer, error) {
		srv, err := NewServer(p, opts...)
		if err != nil {
			return nil, err
		}
		return srv, nil
	}
}

// NewServer is the wrapped server of p, as NewProtocol6WithError returns
// it, with its own type.
func NewServer(p provider.Provider, opts ...Option) (*Server, error) {
	inner, ok := providerserver.NewProtocol6(p)().(Framework)
	if !ok {
		return nil, fmt.Errorf("serve provider: the framework's protocol 6 server lacks an RPC of the protocol")
	}
	if sp, ok := p.(ShortcutProvider); ok {
		opts = append([]Option{WithShortcut(sp.Shortcut())}, opts...)
	}
	return New(inner, opts...), nil
}

// Serve serves the provider at address (such as
// registry.terraform.io/tokenward/tokenward) until Terraform stops it, as
// providerserver.Serve does for protocol 6; debug runs it for a debugger.
func Serve(address string, p func() provider.Provider, debug bool) error {
	var opts []tf6server.ServeOpt
	if debug {
		opts = append(opts, tf6server.WithManagedDebug())
	}
	srv, err := NewProtocol6WithError(p())()
	if err != nil {
		return err
	}
	return tf6server.Serve(address, func() tfprotov6.ProviderServer { return srv }, opts...)
}

// begin counts an RPC in flight; it waits while the framework forgets.
func (s *Server) begin() { s.gate.RLock() }

// end counts an RPC finished, and after every s.every of them lets the
// framework forget the finished ones' contexts if none is in flight now.
func (s *Server) end() {
	s.gate.RUnlock()
	if s.finished.Add(1) < s.every {
		return
	}
	// TryLock succeeds only when no RPC holds the gate: none in flight.
	// While it is held, begin waits, so no new request's context is
	// registered, and so cancelled, during StopProvider.
	if !s.gate.TryLock() {
		return // the next RPC to end tries again
	}
	defer s.gate.Unlock()
	if s.finished.Load() < s.every {
		return // another end did it just now
	}
	s.finished.Store(0)
	// The framework's StopProvider ignores its context and request and
	// never fails (see TestFrameworkKeepsFinishedContextsUntilStop).
	_, _ = s.inner.StopProvider(context.Background(), &tfprotov6.StopProviderRequest{})
}

// unary runs a non-streaming RPC, counted in flight until it returns.
func unary[Req, Resp any](s *Server, ctx context.Context, req Req, rpc func(context.Context, Req) (Resp, error)) (Resp, error) {
	s.begin()
	defer s.end()
	return rpc(ctx, req)
}

// stream keeps a streaming RPC counted in flight until its stream ends:
// when Terraform has read it to the end or stopped reading (the iterator
// returns), or when the RPC's context ends, whichever comes first. The
// framework's handler returns before the stream is read, and the stream
// still uses the context the framework registered.
func stream[T any](s *Server, ctx context.Context, seq iter.Seq[T]) iter.Seq[T] {
	var once sync.Once
	done := func() { once.Do(s.end) }
	stop := context.AfterFunc(ctx, done)
	return func(yield func(T) bool) {
		defer func() {
			stop()
			done()
		}()
		seq(yield)
	}
}

// --- provider RPCs

func (s *Server) GetMetadata(ctx context.Context, req *tfprotov6.GetMetadataRequest) (*tfprotov6.GetMetadataResponse, error) {
	return unary(s, ctx, req, s.inner.GetMetadata)
}

func (s *Server) GetProviderSchema(ctx context.Context, req *tfprotov6.GetProviderSchemaRequest) (*tfprotov6.GetProviderSchemaResponse, error) {
	return unary(s, ctx, req, s.inner.GetProviderSchema)
}

func (s *Server) GetResourceIdentitySchemas(ctx context.Context, req *tfprotov6.GetResourceIdentitySchemasRequest) (*tfprotov6.GetResourceIdentitySchemasResponse, error) {
	return unary(s, ctx, req, s.inner.GetResourceIdentitySchemas)
}

func (s *Server) ValidateProviderConfig(ctx context.Context, req *tfprotov6.ValidateProviderConfigRequest) (*tfprotov6.ValidateProviderConfigResponse, error) {
	return unary(s, ctx, req, s.inner.ValidateProviderConfig)
}

func (s *Server) ConfigureProvider(ctx context.Context, req *tfprotov6.ConfigureProviderRequest) (*tfprotov6.ConfigureProviderResponse, error) {
	return unary(s, ctx, req, s.inner.ConfigureProvider)
}

// StopProvider is Terraform's: it reaches the framework at once and cancels
// what is in flight, as it would without the wrapper.
func (s *Server) StopProvider(ctx context.Context, req *tfprotov6.StopProviderRequest) (*tfprotov6.StopProviderResponse, error) {
	return unary(s, ctx, req, s.inner.StopProvider)
}

// --- resource RPCs

func (s *Server) ValidateResourceConfig(ctx context.Context, req *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, error) {
	return s.validateResourceConfig(ctx, req)
}

func (s *Server) UpgradeResourceState(ctx context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, error) {
	return s.upgradeResourceState(ctx, req)
}

func (s *Server) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	return s.readResource(ctx, req)
}

func (s *Server) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	return s.planResourceChange(ctx, req)
}

func (s *Server) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	return unary(s, ctx, req, s.inner.ApplyResourceChange)
}

func (s *Server) ImportResourceState(ctx context.Context, req *tfprotov6.ImportResourceStateRequest) (*tfprotov6.ImportResourceStateResponse, error) {
	return unary(s, ctx, req, s.inner.ImportResourceState)
}

func (s *Server) MoveResourceState(ctx context.Context, req *tfprotov6.MoveResourceStateRequest) (*tfprotov6.MoveResourceStateResponse, error) {
	return unary(s, ctx, req, s.inner.MoveResourceState)
}

func (s *Server) UpgradeResourceIdentity(ctx context.Context, req *tfprotov6.UpgradeResourceIdentityRequest) (*tfprotov6.UpgradeResourceIdentityResponse, error) {
	return unary(s, ctx, req, s.inner.UpgradeResourceIdentity)
}

func (s *Server) GenerateResourceConfig(ctx context.Context, req *tfprotov6.GenerateResourceConfigRequest) (*tfprotov6.GenerateResourceConfigResponse, error) {
	return unary(s, ctx, req, s.inner.GenerateResourceConfig)
}

// --- data source RPCs

func (s *Server) ValidateDataResourceConfig(ctx context.Context, req *tfprotov6.ValidateDataResourceConfigRequest) (*tfprotov6.ValidateDataResourceConfigResponse, error) {
	return unary(s, ctx, req, s.inner.ValidateDataResourceConfig)
}

func (s *Server) ReadDataSource(ctx context.Context, req *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, error) {
	return unary(s, ctx, req, s.inner.ReadDataSource)
}

// --- function RPCs

func (s *Server) CallFunction(ctx context.Context, req *tfprotov6.CallFunctionRequest) (*tfprotov6.CallFunctionResponse, error) {
	return unary(s, ctx, req, s.inner.CallFunction)
}

func (s *Server) GetFunctions(ctx context.Context, req *tfprotov6.GetFunctionsRequest) (*tfprotov6.GetFunctionsResponse, error) {
	return unary(s, ctx, req, s.inner.GetFunctions)
}

// --- ephemeral resource RPCs

func (s *Server) ValidateEphemeralResourceConfig(ctx context.Context, req *tfprotov6.ValidateEphemeralResourceConfigRequest) (*tfprotov6.ValidateEphemeralResourceConfigResponse, error) {
	return unary(s, ctx, req, s.inner.ValidateEphemeralResourceConfig)
}

func (s *Server) OpenEphemeralResource(ctx context.Context, req *tfprotov6.OpenEphemeralResourceRequest) (*tfprotov6.OpenEphemeralResourceResponse, error) {
	return unary(s, ctx, req, s.inner.OpenEphemeralResource)
}

func (s *Server) RenewEphemeralResource(ctx context.Context, req *tfprotov6.RenewEphemeralResourceRequest) (*tfprotov6.RenewEphemeralResourceResponse, error) {
	return unary(s, ctx, req, s.inner.RenewEphemeralResource)
}

func (s *Server) CloseEphemeralResource(ctx context.Context, req *tfprotov6.CloseEphemeralResourceRequest) (*tfprotov6.CloseEphemeralResourceResponse, error) {
	return unary(s, ctx, req, s.inner.CloseEphemeralResource)
}

// --- list resource RPCs

func (s *Server) ValidateListResourceConfig(ctx context.Context, req *tfprotov6.ValidateListResourceConfigRequest) (*tfprotov6.ValidateListResourceConfigResponse, error) {
	return unary(s, ctx, req, s.inner.ValidateListResourceConfig)
}

func (s *Server) ListResource(ctx context.Context, req *tfprotov6.ListResourceRequest) (*tfprotov6.ListResourceServerStream, error) {
	s.begin()
	resp, err := s.inner.ListResource(ctx, req)
	if err != nil || resp == nil || resp.Results == nil {
		s.end()
		return resp, err
	}
	return &tfprotov6.ListResourceServerStream{Results: stream(s, ctx, resp.Results)}, nil
}

// --- action RPCs

func (s *Server) ValidateActionConfig(ctx context.Context, req *tfprotov6.ValidateActionConfigRequest) (*tfprotov6.ValidateActionConfigResponse, error) {
	return unary(s, ctx, req, s.inner.ValidateActionConfig)
}

func (s *Server) PlanAction(ctx context.Context, req *tfprotov6.PlanActionRequest) (*tfprotov6.PlanActionResponse, error) {
	return unary(s, ctx, req, s.inner.PlanAction)
}

func (s *Server) InvokeAction(ctx context.Context, req *tfprotov6.InvokeActionRequest) (*tfprotov6.InvokeActionServerStream, error) {
	s.begin()
	resp, err := s.inner.InvokeAction(ctx, req)
	if err != nil || resp == nil || resp.Events == nil {
		s.end()
		return resp, err
	}
	return &tfprotov6.InvokeActionServerStream{Events: stream(s, ctx, resp.Events)}, nil
}

// --- state store RPCs

func (s *Server) ValidateStateStoreConfig(ctx context.Context, req *tfprotov6.ValidateStateStoreConfigRequest) (*tfprotov6.ValidateStateStoreConfigResponse, error) {
	return unary(s, ctx, req, s.inner.ValidateStateStoreConfig)
}

func (s *Server) ConfigureStateStore(ctx context.Context, req *tfprotov6.ConfigureStateStoreRequest) (*tfprotov6.ConfigureStateStoreResponse, error) {
	return unary(s, ctx, req, s.inner.ConfigureStateStore)
}

func (s *Server) ReadStateBytes(ctx context.Context, req *tfprotov6.ReadStateBytesRequest) (*tfprotov6.ReadStateBytesStream, error) {
	s.begin()
	resp, err := s.inner.ReadStateBytes(ctx, req)
	if err != nil || resp == nil || resp.Chunks == nil {
		s.end()
		return resp, err
	}
	return &tfprotov6.ReadStateBytesStream{Chunks: stream(s, ctx, resp.Chunks)}, nil
}

// WriteStateBytes reads Terraform's stream before it returns, so it counts
// like any other RPC.
func (s *Server) WriteStateBytes(ctx context.Context, req *tfprotov6.WriteStateBytesStream) (*tfprotov6.WriteStateBytesResponse, error) {
	return unary(s, ctx, req, s.inner.WriteStateBytes)
}

func (s *Server) GetStates(ctx context.Context, req *tfprotov6.GetStatesRequest) (*tfprotov6.GetStatesResponse, error) {
	return unary(s, ctx, req, s.inner.GetStates)
}

func (s *Server) DeleteState(ctx context.Context, req *tfprotov6.DeleteStateRequest) (*tfprotov6.DeleteStateResponse, error) {
	return unary(s, ctx, req, s.inner.DeleteState)
}

func (s *Server) LockState(ctx context.Context, req *tfprotov6.LockStateRequest) (*tfprotov6.LockStateResponse, error) {
	return unary(s, ctx, req, s.inner.LockState)
}

func (s *Server) UnlockState(ctx context.Context, req *tfprotov6.UnlockStateRequest) (*tfprotov6.UnlockStateResponse, error) {
	return unary(s, ctx, req, s.inner.UnlockState)
}
