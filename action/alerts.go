package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// tokenward alerts: the alerts tokenward serve's detectors raised, read
// from the store without a master key; tokenward alerts ack ID records who
// acknowledged one, in the alert and in the audit chain.

const defaultAlertsSince = 24 * time.Hour

// alertOutput is one alert of alerts --format json.
type alertOutput struct {
	ID       string            `json:"id"`
	Time     string            `json:"time"`
	Detector string            `json:"detector"`
	Severity string            `json:"severity"`
	Token    string            `json:"token"`
	SourceIP string            `json:"source_ip"`
	Detail   string            `json:"detail"`
	Evidence map[string]string `json:"evidence"`
	AckedBy  string            `json:"acked_by"`
	AckedAt  *string           `json:"acked_at"`
}

// alertsCommand dispatches tokenward alerts and tokenward alerts ack.
func (c *cli) alertsCommand(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "ack" {
		return c.alertsAck(ctx, args[1:])
	}
	return c.alertsList(ctx, args)
}

func (c *cli) alertsList(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("alerts")
	since := spanFlag(fs, "since", defaultAlertsSince, "only alerts newer than this, such as 24h or 7d (0: all)")
	format := fs.String("format", "table", "output format: table or json")
	limit := intFlag(fs, "limit", 0, 0, "at most this many alerts, newest first (0: all)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *format != "table" && *format != "json" {
		return c.fail(exitUsage, "alerts: --format is %q: write table or json", clean(*format))
	}
	now, err := registry.ClockFromEnv(c.getenv)
	if err != nil {
		return c.fail(exitUsage, "alerts: %v", err)
	}
	q := store.AlertQuery{Limit: *limit}
	if *since > 0 {
		q.Since = now().Add(-*since)
	}
	ur, err := registry.OpenUsageReader(ctx, c.config(sf))
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer ur.Close()
	alerts, err := ur.Alerts(ctx, q)
	if err != nil {
		return c.fail(exitTrouble, "alerts: %v", err)
	}
	if *format == "json" {
		out := make([]alertOutput, 0, len(alerts))
		for _, a := range alerts {
			o := alertOutput{ID: a.ID, Time: a.At.UTC().Format(time.RFC3339Nano), Detector: a.Detector, Severity: a.Severity,
				Token: a.TokenName, SourceIP: a.SourceIP, Detail: a.Detail, Evidence: a.Evidence, AckedBy: a.AckedBy}
			if o.Evidence == nil {
				o.Evidence = map[string]string{}
			}
			if !a.AckedAt.IsZero() {
				s := a.AckedAt.UTC().Format(time.RFC3339Nano)
				o.AckedAt = &s
			}
			out = append(out, o)
		}
		return c.printJSON(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tSEVERITY\tDETECTOR\tTOKEN\tSOURCE_IP\tACKED_BY\tDETAIL")
	for _, a := range alerts {
		fmt.Fprintln(tw, strings.Join([]string{tableCell(a.ID), a.At.UTC().Format(time.RFC3339), tableCell(a.Severity), tableCell(a.Detector),
			tableCell(a.TokenName), tableCell(a.SourceIP), tableCell(a.AckedBy), tableCell(a.Detail)}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return c.fail(exitTrouble, "write result: %v", err)
	}
	return exitOK
}

func (c *cli) alertsAck(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("alerts ack")
	by := fs.String("by", "", "who acknowledges the alert (default: $GITHUB_ACTOR in a workflow, else $USER)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return c.fail(exitUsage, "alerts ack: give one alert id, as tokenward alerts prints it (%d arguments given)", fs.NArg())
	}
	id := fs.Arg(0)
	cfg := c.config(sf)
	who := *by
	switch {
	case who != "":
	case cfg.Actor != "tokenward":
		who = cfg.Actor // github:ACTOR
	case c.getenv("USER") != "":
		who = c.getenv("USER")
	default:
		return c.fail(exitUsage, "alerts ack: say who acknowledges the alert with --by NAME")
	}
	cfg.Actor = who
	reg, err := registry.OpenUsageKeeper(ctx, cfg)
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer reg.Close()
	err = reg.AckAlert(ctx, id, who)
	var inv *registry.InvalidError
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return c.fail(exitFailed, "alerts ack: no alert has the id %q: list them with tokenward alerts --since 7d", clean(id))
	case errors.As(err, &inv):
		return c.fail(exitUsage, "alerts ack: %v", err)
	case err != nil:
		return c.fail(exitTrouble, "alerts ack: %v", err)
	}
	fmt.Fprintf(c.stdout, "alert %s acknowledged by %s\n", clean(id), clean(who))
	return exitOK
}
