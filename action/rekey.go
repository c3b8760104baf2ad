package main

import (
	"context"
	"fmt"
)

func (c *cli) rekey(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("rekey")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	reg, err := c.open(ctx, sf)
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer reg.Close()
	n, err := reg.Rekey(ctx)
	if err != nil {
		return c.fail(exitTrouble, "rekey: %v", err)
	}
	fmt.Fprintf(c.stdout, "re-wrapped %d sealed values under the primary master key\n", n)
	return exitOK
}
