// Package review turns the JSON of a Terraform plan (`terraform show -json
// PLANFILE`) into a report of what a change to tokenward resources grants, to
// whom and where: every tokenward_* change with its risk flags, the count of
// other resources' changes, and the result of the organisation's policy.
//
// It guarantees that nothing sensitive reaches the report: values Terraform
// marks sensitive in the plan are shown as "(sensitive)", write-only and
// sensitive setting values are only ever said to have changed, and token
// values are never in a plan in the first place. The report is the same for
// the same plan, so it can be compared with a golden file and posted as a
// pull-request comment that changes only when the plan does.
package review

import (
	"fmt"
	"slices"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
)

// Level is how much a flag asks of a reviewer. The zero Level, None, is the
// risk of a report without flags.
type Level int

// Levels, from least to most severe.
const (
	None Level = iota
	Info       // worth knowing: a new token, a destination of a new token
	Warn       // a reviewer should agree to it: more scopes, a new destination, a longer life
	High       // breaks consumers, widens access a lot, or breaks the policy
)

var levelNames = [...]string{None: "none", Info: "info", Warn: "warn", High: "high"}

func (l Level) String() string {
	if l < None || l > High {
		return fmt.Sprintf("level(%d)", int(l))
	}
	return levelNames[l]
}

// MarshalText writes the level's name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// ParseLevel reads info, warn or high.
func ParseLevel(s string) (Level, error) {
	for l := Info; l <= High; l++ {
		if s == levelNames[l] {
			return l, nil
		}
	}
	return None, fmt.Errorf("level %q must be info, warn or high", s)
}

// Category is what kind of risk a flag is about.
type Category string

// Categories.
const (
	Privilege Category = "privilege" // what a token may do: scopes, roles, wildcards
	Reach     Category = "reach"     // where a token's value is delivered
	Lifetime  Category = "lifetime"  // how long a value lives and overlaps
	Breakage  Category = "breakage"  // what stops working for consumers or users
	Data      Category = "data"      // how configuration values are protected
	Ownership Category = "ownership" // who answers for a token
)

// Flag is one risk of a change.
type Flag struct {
	Level    Level    `json:"level"`
	Category Category `json:"category"`
	// Message says what changes and why it matters. Values taken from the
	// plan are in backquotes; a sensitive one is never in it.
	Message string `json:"message"`
	// Policy is set when the flag is a violation of the policy.
	Policy bool `json:"policy,omitempty"`
}

// Action is what Terraform plans to do with a resource.
type Action string

// Actions a change can have.
const (
	Create  Action = "create"
	Update  Action = "update"
	Replace Action = "replace"
	Delete  Action = "delete"
	Forget  Action = "forget" // removed from state; nothing is revoked or deleted
	Import  Action = "import" // adopted into state as it is
	Move    Action = "move"   // a new address in the configuration, nothing else
)

// Change is one tokenward resource that the plan changes.
type Change struct {
	Address string `json:"address"`
	Type    string `json:"type"`
	// Name is what the resource is called in the store: the token, scope or
	// role name, the setting key, the user.
	Name   string `json:"name"`
	Action Action `json:"action"`
	// Rotates is set when applying issues a new value of a token: its
	// destinations or rotation_triggers changed, or it is created.
	Rotates bool `json:"rotates,omitempty"`
	// Honeytoken is set for a token that is a honeytoken after the change
	// (or before, when it is deleted): a decoy whose values never verify,
	// so its scopes are bait, not grants.
	Honeytoken bool `json:"honeytoken,omitempty"`
	// Details say what the resource grants and where, one line each, with
	// changes marked by + and -. No sensitive value is in them.
	Details []string `json:"details"`
	Flags   []Flag   `json:"flags"`
}

// flag adds a flag to the change.
func (c *Change) flag(l Level, cat Category, format string, args ...any) {
	c.Flags = append(c.Flags, Flag{Level: l, Category: cat, Message: fmt.Sprintf(format, args...)})
}

// policyFlags adds a high flag for each violation of the policy. When the
// values judged are sensitive, the violation is said without its message,
// which may quote them.
func (c *Change) policyFlags(vs []policy.Violation, cat func(field string) Category, sensitive bool) {
	for _, v := range vs {
		msg := v.Message
		if sensitive {
			msg = "a sensitive value breaks the policy (not shown)"
		}
		c.Flags = append(c.Flags, Flag{Level: High, Category: cat(v.Field), Message: "policy: " + code(v.Field) + ": " + msg, Policy: true})
	}
}

// Risk is the highest level of the change's flags.
func (c Change) Risk() Level {
	var l Level
	for _, f := range c.Flags {
		l = max(l, f.Level)
	}
	return l
}

// PolicyResult is what the policy said about the plan.
type PolicyResult struct {
	// Source names where the policy came from: a file, the provider block,
	// or "none" when no policy is set.
	Source     string `json:"source"`
	Violations int    `json:"violations"`
}

// Report is the review of one plan.
type Report struct {
	Risk    Level    `json:"risk"`
	Changes []Change `json:"changes"`
	// Others counts the changes to resources of other providers, which the
	// report does not list.
	Others int          `json:"other_changes"`
	Policy PolicyResult `json:"policy"`
	// Usage is one line about the store's usage facts (review --store):
	// the window they cover, or why there are none; empty without them.
	Usage string `json:"usage,omitempty"`
}

// Count returns how many changes have action a.
func (r Report) Count(a Action) int {
	n := 0
	for _, c := range r.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Options configure a review.
type Options struct {
	Policy policy.Policy
	// PolicySource names where Policy came from, for the report; "none"
	// when empty.
	PolicySource string
	// Runtime is what the store's usage log says about the plan's tokens;
	// nil when no store was given.
	Runtime *Runtime
}

// Build reviews a plan: every change to a tokenward resource, in address
// order, with its flags.
func Build(plan *tfjson.Plan, opts Options) Report {
	rep := Report{Changes: []Change{}, Policy: PolicyResult{Source: opts.PolicySource}}
	if rep.Policy.Source == "" {
		rep.Policy.Source = "none"
	}
	w := newWorld(plan)
	rt := newRuntime(plan, opts.Runtime)
	rep.Usage = rt.line()
	for _, rc := range plan.ResourceChanges {
		if !managed(rc) {
			continue
		}
		action, ok := actionOf(rc)
		if !ok {
			continue
		}
		if !strings.HasPrefix(rc.Type, "tokenward_") {
			rep.Others++
			continue
		}
		c := resource{rc: rc, before: asObject(rc.Change.Before), after: asObject(rc.Change.After)}
		ch := Change{Address: rc.Address, Type: rc.Type, Action: action, Details: []string{}, Flags: []Flag{}}
		switch rc.Type {
		case "tokenward_token":
			reviewToken(&ch, c, w, opts.Policy)
		case "tokenward_credential":
			reviewCredential(&ch, c)
		case "tokenward_scope":
			reviewScope(&ch, c, w)
		case "tokenward_role":
			reviewRole(&ch, c, w, opts.Policy)
		case "tokenward_setting":
			reviewSetting(&ch, c)
		case "tokenward_user_config":
			reviewUserConfig(&ch, c, w)
		default:
			ch.Name = c.name("name")
			ch.flag(Warn, Breakage, "%s is a resource type this version of tokenward review does not know: review it in the plan", code(rc.Type))
		}
		if !known(action) {
			ch.flag(Warn, Breakage, "Terraform plans the actions %s, which this version of tokenward review does not know: review it in the plan", code(string(action)))
		}
		if rc.PreviousAddress != "" && rc.PreviousAddress != rc.Address {
			ch.Details = append(ch.Details, "moved from "+code(rc.PreviousAddress))
		}
		rt.review(&ch, c)
		slices.SortStableFunc(ch.Flags, func(a, b Flag) int { return int(b.Level - a.Level) })
		for _, f := range ch.Flags {
			if f.Policy {
				rep.Policy.Violations++
			}
		}
		rep.Changes = append(rep.Changes, ch)
	}
	slices.SortStableFunc(rep.Changes, func(a, b Change) int { return strings.Compare(a.Address, b.Address) })
	for _, c := range rep.Changes {
		rep.Risk = max(rep.Risk, c.Risk())
	}
	return rep
}

// actionOf names what the plan does with a resource; false for no change.
// Actions it does not know are named as Terraform gives them.
func actionOf(rc *tfjson.ResourceChange) (Action, bool) {
	a := rc.Change.Actions
	switch {
	case a.Replace(), len(a) == 2 && slices.Contains(a, tfjson.ActionCreate) && slices.Contains(a, tfjson.ActionForget):
		// A create and a forget: replaced, the old object left as it is.
		return Replace, true
	case a.Create():
		return Create, true
	case a.Update():
		return Update, true
	case a.Delete():
		return Delete, true
	case a.Forget():
		return Forget, true
	case a.NoOp() && rc.Change.Importing != nil:
		return Import, true
	case a.NoOp() && rc.PreviousAddress != "" && rc.PreviousAddress != rc.Address:
		return Move, true
	case a.NoOp(), a.Read():
		return "", false
	}
	names := make([]string, len(a))
	for i, x := range a {
		names[i] = string(x)
	}
	return Action(strings.Join(names, "+")), true
}

func known(a Action) bool {
	return slices.Contains([]Action{Create, Update, Replace, Delete, Forget, Import, Move}, a)
}
