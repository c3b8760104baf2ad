package main

import (
	"flag"
	"fmt"

	"github.com/tokenward/terraform-provider-tokenward/internal/server"
)

// serveStreamFlags are tokenward serve's flags of the configuration's
// event streams (GET /v1/users/{user}/events, GET /v1/events).
type serveStreamFlags struct {
	max, perToken *int
}

// streamServeFlags defines them on serve's flag set.
func streamServeFlags(fs *flag.FlagSet) *serveStreamFlags {
	return &serveStreamFlags{
		max: fs.Int("max-streams", server.DefaultMaxStreams,
			"how many configuration event streams this instance holds open at once; past it a new one is refused with 503"),
		perToken: fs.Int("max-streams-per-token", server.DefaultMaxStreamsPerToken,
			"how many configuration event streams one caller token holds open on this instance; past it 429"),
	}
}

// option is the server's option for the flags, or why they are unusable.
func (f *serveStreamFlags) option() (server.Option, error) {
	switch {
	case *f.max <= 0:
		return nil, fmt.Errorf("--max-streams must be a whole number above zero, such as %d", server.DefaultMaxStreams)
	case *f.perToken <= 0:
		return nil, fmt.Errorf("--max-streams-per-token must be a whole number above zero, such as %d", server.DefaultMaxStreamsPerToken)
	}
	return server.WithStreams(server.StreamConfig{MaxStreams: *f.max, MaxPerToken: *f.perToken}), nil
}
