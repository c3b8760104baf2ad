package main

// What every command prints with: stdout kept whole under concurrent
// writers, errors and warnings (annotations in a workflow), JSON results,
// and the audit head as a witness.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// lockedWriter serialises writes from the rotation workers, so a mask
// command is never interleaved with other output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fail reports an error, as an annotation in a workflow.
func (c *cli) fail(code int, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	if c.inWorkflow() {
		c.gha.Errorf("%s", msg)
	} else {
		fmt.Fprintln(c.stderr, "tokenward:", msg)
	}
	return code
}

// printJSON writes v to stdout as indented JSON, with <, > and & as they
// are and what a terminal would act on escaped (terminalSafeJSON).
func (c *cli) printJSON(v any) int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail(exitTrouble, "write result: %v", err)
	}
	if _, err := c.stdout.Write(terminalSafeJSON(buf.Bytes())); err != nil {
		return c.fail(exitTrouble, "write result: %v", err)
	}
	return exitOK
}

// warn prints warnings about the configuration on stderr, or as warning
// annotations in a workflow; they do not stop the command.
func (c *cli) warn(ws []registry.Warning) {
	for _, w := range ws {
		if c.inWorkflow() {
			c.gha.Warningf("%s: %s", w.Summary, w.Detail)
		} else {
			fmt.Fprintf(c.stderr, "tokenward: warning: %s: %s\n", w.Summary, w.Detail)
		}
	}
}

// reportAuditHead prints the head of the audit chain as SEQ:HASH and, in a
// workflow, sets it as the output audit-head and adds it to the step
// summary, so a witness of the chain is kept outside the store: audit
// verify --witness SEQ:HASH then fails if the chain was cut back before it.
func (c *cli) reportAuditHead(w io.Writer, head audit.Head) {
	fmt.Fprintf(w, "audit head: %s\n", head)
	if c.getenv("GITHUB_OUTPUT") != "" {
		c.gha.SetOutput("audit-head", head.String())
	}
	if c.getenv("GITHUB_STEP_SUMMARY") != "" {
		c.gha.AddStepSummary(fmt.Sprintf("\nAudit head: `%s` (keep it to check later with `tokenward audit verify --witness %s`).\n", head, head))
	}
}
