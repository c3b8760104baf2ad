package review

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	tfjson "github.com/hashicorp/terraform-json"
)

// Placeholders for values the report does not show.
const (
	sensitiveText = "(sensitive)"
	unknownText   = "(known after apply)"
)

// resource is one resource change with its values before and after, read
// only through methods that honour the plan's sensitive and unknown marks.
type resource struct {
	rc            *tfjson.ResourceChange
	before, after map[string]any // nil when the resource does not exist on that side
}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// sensitive reports whether attr is marked sensitive on either side, or
// holds anything marked sensitive.
func (r resource) sensitive(attr string) bool {
	return marked(r.rc.Change.BeforeSensitive, attr) || marked(r.rc.Change.AfterSensitive, attr)
}

// unknown reports whether attr, or anything in it, is known only after apply.
func (r resource) unknown(attr string) bool { return marked(r.rc.Change.AfterUnknown, attr) }

// marked reports whether marks (a before_sensitive, after_sensitive or
// after_unknown tree) is true at attr or anywhere under it.
func marked(marks any, attr string) bool {
	if b, ok := marks.(bool); ok {
		return b
	}
	m, ok := marks.(map[string]any)
	if !ok {
		return false
	}
	return anyTrue(m[attr])
}

func anyTrue(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case []any:
		return slices.ContainsFunc(v, anyTrue)
	case map[string]any:
		for _, e := range v {
			if anyTrue(e) {
				return true
			}
		}
	}
	return false
}

// side picks the values before or after the change.
func (r resource) side(after bool) map[string]any {
	if after {
		return r.after
	}
	return r.before
}

// name is the resource's identifying attribute as it will be (as it was,
// for a deletion), or a placeholder; see nameOn.
func (r resource) name(attr string) string { return r.nameOn(r.after != nil, attr) }

// nameOn is a string attribute on one side as plain text, or a placeholder
// when it is sensitive or unknown. Render it with label.
func (r resource) nameOn(after bool, attr string) string {
	switch {
	case r.sensitive(attr):
		return sensitiveText
	case after && r.unknown(attr):
		return unknownText
	}
	return str(r.side(after)[attr])
}

// hidden reports whether attr cannot be shown or judged: it is sensitive,
// or known only after apply.
func (r resource) hidden(attr string) bool {
	return r.sensitive(attr) || (r.after != nil && r.unknown(attr))
}

// list reads a list or set of strings on one side; nil when the resource
// does not exist there or the attribute is hidden.
func (r resource) list(after bool, attr string) []string {
	if r.side(after) == nil || r.hidden(attr) {
		return nil
	}
	return strs(r.side(after)[attr])
}

// label renders a name from nameOn: in backquotes, or the placeholder as it
// is.
func label(s string) string {
	if s == sensitiveText || s == unknownText {
		return s
	}
	return code(s)
}

// changed reports whether attr differs between before and after. An
// attribute known only after apply counts as changed.
func (r resource) changed(attr string) bool {
	if r.before == nil || r.after == nil {
		return false
	}
	if r.unknown(attr) {
		return true
	}
	a, _ := json.Marshal(r.before[attr])
	b, _ := json.Marshal(r.after[attr])
	return string(a) != string(b)
}

// show renders attr on one side for the report: in backquotes, or a
// placeholder when it is sensitive, unknown or unset.
func (r resource) show(after bool, attr string) string {
	switch {
	case r.sensitive(attr):
		return sensitiveText
	case after && r.unknown(attr):
		return unknownText
	}
	v := r.side(after)[attr]
	switch v := v.(type) {
	case nil:
		return "(unset)"
	case string:
		if v == "" {
			return "(empty)"
		}
		return code(v)
	}
	b, _ := json.Marshal(v)
	return code(string(b))
}

// showChange renders attr as "before → after", or as its value when it did
// not change or exists on one side only.
func (r resource) showChange(attr string) string {
	if r.changed(attr) {
		return r.show(false, attr) + " → " + r.show(true, attr)
	}
	return r.show(r.after != nil, attr)
}

// strs reads a list or set of strings; unknown elements and elements that
// are not strings are left out.
func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// objects reads a list of nested objects.
func objects(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// diff returns what is in after and not in before, and the reverse.
func diff(before, after []string) (added, removed []string) {
	for _, s := range after {
		if !slices.Contains(before, s) {
			added = append(added, s)
		}
	}
	for _, s := range before {
		if !slices.Contains(after, s) {
			removed = append(removed, s)
		}
	}
	return added, removed
}

// maxShown bounds a value shown in the report, in characters.
const maxShown = 120

// code renders s as a Markdown code span: one line, at most maxShown
// characters, and fenced so that no backquote in s can close it early. What
// is inside a code span is never read as Markdown or HTML, so a value
// cannot forge the report's marker or formatting.
func code(s string) string { return span(s, maxShown) }

// Code is code, for the Markdown of other packages: every name or value
// from the store that a report quotes goes through it.
func Code(s string) string { return code(s) }

// Command renders a command line to copy as a code span, as code does but
// whole: a command cut short is another command. Its arguments must be
// quoted for the shell already.
func Command(s string) string { return span(s, 0) }

// span is code with a limit of n characters, none when n is 0.
func span(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	if n > 0 && utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || s == "" || strings.TrimSpace(s) == "" {
		s = " " + s + " "
	}
	return fence + s + fence
}

// labels renders names with label, joined by commas.
func labels(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = label(s)
	}
	return strings.Join(out, ", ")
}

// codes renders each of ss as a code span, joined by commas.
func codes(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = code(s)
	}
	return strings.Join(out, ", ")
}

// marks renders a list with what was added (+) and removed (-) marked:
// "`a`, +`b`, -`c`"; "none" for an empty list.
func marks(before, after []string) string {
	added, removed := diff(before, after)
	var out []string
	for _, s := range after {
		if slices.Contains(added, s) {
			out = append(out, "+"+code(s))
		} else {
			out = append(out, code(s))
		}
	}
	for _, s := range removed {
		out = append(out, "-"+code(s))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func sensitiveOrUnknown(r resource, attr string) string {
	if r.sensitive(attr) {
		return sensitiveText
	}
	return unknownText
}

func uniq(ss []string) []string {
	slices.Sort(ss)
	return slices.Compact(ss)
}

// boolOn reads a bool attribute on one side; false when it is unset,
// unknown or sensitive.
func (r resource) boolOn(after bool, attr string) bool {
	if r.sensitive(attr) || (after && r.unknown(attr)) {
		return false
	}
	b, _ := r.side(after)[attr].(bool)
	return b
}
