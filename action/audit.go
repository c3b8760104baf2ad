package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
)

// EnvAuditPubkey holds the public keys audit verify checks checkpoint
// signatures with when --pubkey is not given, as audit pubkey prints them.
const EnvAuditPubkey = "TOKENWARD_AUDIT_PUBKEY"

// auditPage is how many events audit verify reads at a time, so a chain of
// any length is verified in constant memory.
const auditPage = 1000

// audit dispatches the audit subcommands.
func (c *cli) audit(ctx context.Context, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "verify":
			return c.auditVerify(ctx, args[1:])
		case "pubkey":
			return c.auditPubkey(args[1:])
		case "help", "-h", "--help":
			fmt.Fprint(c.stdout, usage)
			return exitOK
		}
	}
	return c.usageError("audit: use \"audit verify\" or \"audit pubkey\"")
}

// auditPubkey prints the public checkpoint signing key of every master key
// in the keyring, primary first, one ID:BASE64 per line: what audit verify
// --pubkey and TOKENWARD_AUDIT_PUBKEY take. It needs the key, not the store.
func (c *cli) auditPubkey(args []string) int {
	fs := flag.NewFlagSet("tokenward audit pubkey", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage:\n%s\nFlags:\n", commandUsage("audit pubkey"))
		fs.PrintDefaults()
	}
	sf := &storeFlags{}
	fs.StringVar(&sf.masterKeyFile, "master-key-file", "", "file holding the base64 master key(s) (default $TOKENWARD_MASTER_KEY_FILE)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	keys, err := c.keyring(sf)
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	pubs, err := keys.PublicKeys()
	if err != nil {
		return c.fail(exitTrouble, "audit pubkey: %v", err)
	}
	for _, p := range pubs {
		fmt.Fprintln(c.stdout, p)
	}
	return exitOK
}

func (c *cli) auditVerify(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("audit verify")
	var pubkeys, witnesses stringList
	fs.Var(&pubkeys, "pubkey", "a checkpoint public key ID:BASE64 as audit pubkey prints it, to check signatures with (repeatable; default $"+EnvAuditPubkey+")")
	signedHead := fs.Bool("signed-head", false, "fail unless a checkpoint of the given keys signs the head itself: catches a rewrite whose later checkpoints were deleted, where events written by a process without the key are not expected")
	fs.Var(&witnesses, "witness", "SEQ:HASH of an event kept outside the store, such as rotate's audit-head output; fails unless the event still has that hash (repeatable)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	opts := audit.Options{PageSize: auditPage, Keys: map[string]ed25519.PublicKey{}}
	source, given := "--pubkey", []string(pubkeys)
	if len(given) == 0 {
		source, given = EnvAuditPubkey, []string{c.getenv(EnvAuditPubkey)}
	}
	for _, s := range given {
		keys, err := seal.ParsePublicKeys(s)
		if err != nil {
			return c.fail(exitUsage, "audit verify: %s: %v", source, err)
		}
		for _, k := range keys {
			opts.Keys[k.ID] = k.Key
		}
	}
	if *signedHead && len(opts.Keys) == 0 {
		return c.fail(exitUsage, "audit verify: --signed-head needs the keys to check signatures with: give --pubkey or %s", EnvAuditPubkey)
	}
	for _, s := range witnesses {
		h, err := audit.ParseHead(s)
		if err != nil {
			return c.fail(exitUsage, "audit verify: --witness: %v", err)
		}
		opts.Witnesses = append(opts.Witnesses, h)
	}
	// The chain and its checkpoints hold no sealed value: no master key is
	// needed, and a read-only open, so the auditor can change nothing.
	ar, err := c.openAuditReader(ctx, sf)
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer ar.Close()
	rep, err := ar.Verify(ctx, opts)
	if audit.IsChainError(err) {
		return c.fail(exitFailed, "audit chain broken: %v", err)
	}
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	fmt.Fprintf(c.stdout, "audit chain intact: %d events, head %s\n", rep.Head.Seq, rep.Head.Hash)
	c.reportCheckpoints(rep, len(opts.Keys) > 0)
	if rep.Witnesses > 0 {
		fmt.Fprintf(c.stdout, "witnesses: %d of %d match\n", rep.Witnesses, len(opts.Witnesses))
	}
	if *signedHead && rep.Signed.Seq < rep.Head.Seq {
		return c.fail(exitFailed, "audit chain not signed to its head (--signed-head): events %d to %d are covered by no checkpoint of the given keys; "+
			"a chain rewritten after event %d with the later checkpoints deleted looks so, and so do events a process without the key appended since the last command with it",
			rep.Signed.Seq+1, rep.Head.Seq, rep.Signed.Seq)
	}
	return exitOK
}

// reportCheckpoints says what the checkpoints vouched for, and what was
// left unchecked, so a pass is never read as more than it is.
func (c *cli) reportCheckpoints(rep audit.Report, keyed bool) {
	switch {
	case rep.Checkpoints == 0:
		fmt.Fprintln(c.stdout, "checkpoints: none")
	case keyed:
		fmt.Fprintf(c.stdout, "checkpoints: %d match the chain; signatures verified up to event %d (%s)\n",
			rep.Checkpoints, rep.Signed.Seq, counts(rep.SignedBy))
		if rep.Signed.Seq < rep.Head.Seq {
			fmt.Fprintf(c.stdout, "events %d to %d are not covered by a signed checkpoint yet: a later command with the master key signs them\n",
				rep.Signed.Seq+1, rep.Head.Seq)
		}
		if len(rep.Unchecked) > 0 {
			fmt.Fprintf(c.stdout, "checkpoints not checked, their key was not given: %s\n", counts(rep.Unchecked))
		}
	default:
		fmt.Fprintf(c.stdout, "checkpoints: %d match the chain; their signatures were not checked (%s): "+
			"give --pubkey or %s (tokenward audit pubkey prints them) to catch a chain rewritten with its hashes recomputed\n",
			rep.Checkpoints, counts(rep.Unchecked), EnvAuditPubkey)
	}
}

// counts lists checkpoints per key id: "key a1b2… ×3, key c3d4… ×1".
func counts(by map[string]int) string {
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("key %s ×%d", id, by[id])
	}
	return strings.Join(parts, ", ")
}
