package review

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Markdown renders the report for a pull-request comment or a step
// summary: a headline with the highest risk, a table of the changes, then
// each change with its flags and what it grants.
func (r Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## tokenward review: risk %s\n\n", strings.ToUpper(r.Risk.String()))
	b.WriteString(r.summary())
	b.WriteString("\n\n")
	b.WriteString(r.policyLine())
	b.WriteString("\n")
	if r.Usage != "" {
		b.WriteString("\n" + text(r.Usage) + "\n")
	}
	if len(r.Changes) == 0 {
		return b.String()
	}
	b.WriteString("\n| Risk | Action | Resource | Flags |\n|:-----|:-------|:---------|:------|\n")
	for _, c := range r.Changes {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Risk(), c.action(), cell(code(c.Address)+c.kind()), flagCounts(c.Flags))
	}
	for _, c := range r.Changes {
		fmt.Fprintf(&b, "\n### %s%s %s\n\n", code(c.Address), c.kind(), c.action())
		for _, f := range c.Flags {
			fmt.Fprintf(&b, "- **%s** %s: %s\n", f.Level, f.Category, text(f.Message))
		}
		if len(c.Flags) > 0 && len(c.Details) > 0 {
			b.WriteString("\n")
		}
		for _, d := range c.Details {
			fmt.Fprintf(&b, "- %s\n", text(d))
		}
	}
	return b.String()
}

// JSON renders the report as indented JSON.
func (r Report) JSON() []byte {
	out, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		// Every field is a string, number, bool or slice of them.
		panic("review: encode report: " + err.Error())
	}
	return append(out, '\n')
}

// kind marks a honeytoken after its address, so that no reviewer reads
// its scopes as a real grant.
func (c Change) kind() string {
	if c.Honeytoken {
		return " (honeytoken)"
	}
	return ""
}

func (c Change) action() string {
	if c.Rotates && c.Action != Create {
		return string(c.Action) + ", rotates"
	}
	return string(c.Action)
}

func (r Report) summary() string {
	if len(r.Changes) == 0 {
		s := "No tokenward resource changes."
		if r.Others > 0 {
			s += fmt.Sprintf(" %d %s to other resources.", r.Others, plural(r.Others, "change", "changes"))
		}
		return s
	}
	var parts []string
	for _, a := range []Action{Create, Update, Replace, Delete, Forget, Import} {
		if n := r.Count(a); n > 0 {
			parts = append(parts, fmt.Sprintf("%d to %s", n, a))
		}
	}
	s := fmt.Sprintf("**%d tokenward %s**: %s.", len(r.Changes), plural(len(r.Changes), "change", "changes"), strings.Join(parts, ", "))
	rotates := 0
	for _, c := range r.Changes {
		if c.Rotates && c.Action != Create {
			rotates++
		}
	}
	if rotates > 0 {
		s += fmt.Sprintf(" %d %s a new value on apply.", rotates, plural(rotates, "token gets", "tokens get"))
	}
	if r.Others > 0 {
		s += fmt.Sprintf(" %d %s to other resources not listed.", r.Others, plural(r.Others, "change", "changes"))
	}
	return s
}

func (r Report) policyLine() string {
	switch {
	case r.Policy.Source == "none":
		return "Policy: none set."
	case r.Policy.Violations == 0:
		return fmt.Sprintf("Policy (%s): passed.", text(r.Policy.Source))
	}
	return fmt.Sprintf("Policy (%s): **%d %s**.", text(r.Policy.Source), r.Policy.Violations, plural(r.Policy.Violations, "violation", "violations"))
}

func flagCounts(flags []Flag) string {
	var n [High + 1]int
	for _, f := range flags {
		n[f.Level]++
	}
	var parts []string
	for l := High; l >= Info; l-- {
		if n[l] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[l], l))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// cell makes s safe in a table cell: a | would end the cell, even inside a
// code span.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// text makes a message safe to show as Markdown: code spans are kept as
// they are, and outside them every character Markdown or HTML would read
// as markup is escaped, so a value quoted in a message cannot inject a
// link, an HTML comment or formatting.
func text(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '`' {
			n := run(s[i:], '`')
			fence := s[i : i+n]
			if end := closing(s[i+n:], fence); end >= 0 {
				b.WriteString(s[i : i+n+end+n])
				i += n + end + n
				continue
			}
			b.WriteString(strings.Repeat("\\`", n))
			i += n
			continue
		}
		switch c := s[i]; c {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\\', '*', '[', ']', '~', '|', '#', '!':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
		i++
	}
	return b.String()
}

// run counts the leading bytes of s equal to c.
func run(s string, c byte) int {
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	return n
}

// closing finds the offset in s of a backquote run exactly as long as
// fence, or -1.
func closing(s, fence string) int {
	for i := 0; i < len(s); {
		if s[i] != '`' {
			i++
			continue
		}
		n := run(s[i:], '`')
		if n == len(fence) {
			return i
		}
		i += n
	}
	return -1
}
