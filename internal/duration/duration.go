// Package duration parses and formats the lifetimes tokenward's users write:
// Go durations plus days (d) and weeks (w), such as 90d, 1d12h or 2w.
//
// It guarantees that Parse(Format(d)) == d for every non-negative d that
// Format accepts, so two spellings of one length (24h and 1d) compare equal
// once parsed.
package duration

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day and Week are the units tokenward adds to Go's.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

var units = map[string]time.Duration{
	"w": Week, "d": Day, "h": time.Hour, "m": time.Minute, "s": time.Second,
	"ms": time.Millisecond, "us": time.Microsecond, "µs": time.Microsecond, "ns": time.Nanosecond,
}

// ErrSyntax is wrapped by every error of Parse.
var ErrSyntax = errors.New("invalid duration")

// Parse reads a duration such as 90d, 1w, 1d12h, 36h or 45m. Each number is
// a whole number or a decimal, followed by a unit: w, d, h, m, s, ms, us or
// ns. Negative durations are refused: no lifetime is negative.
func Parse(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty; write a number and a unit, such as 90d or 12h", ErrSyntax)
	}
	if s == "0" {
		return 0, nil
	}
	rest := s
	var total float64
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%w: %q: expected a number at %q; write a number and a unit, such as 90d or 12h", ErrSyntax, s, rest)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q: %q is not a number", ErrSyntax, s, rest[:i])
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		unit, ok := units[rest[:j]]
		if !ok {
			if j == 0 {
				return 0, fmt.Errorf("%w: %q: a number needs a unit (w, d, h, m or s)", ErrSyntax, s)
			}
			return 0, fmt.Errorf("%w: %q: unknown unit %q; use w, d, h, m or s", ErrSyntax, s, rest[:j])
		}
		rest = rest[j:]
		total += n * float64(unit)
		if total > float64(1<<63-1) {
			return 0, fmt.Errorf("%w: %q is too long", ErrSyntax, s)
		}
	}
	return time.Duration(total), nil
}

// Format writes d in the canonical form: days, then hours, minutes and
// seconds, leaving out zero parts (90d, 1d12h, 45m, 1.5s). Weeks are written
// as days, so a week is 7d.
func Format(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	if days := d / Day; days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10) + "d")
		d -= days * Day
	}
	if h := d / time.Hour; h > 0 {
		b.WriteString(strconv.FormatInt(int64(h), 10) + "h")
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		b.WriteString(strconv.FormatInt(int64(m), 10) + "m")
		d -= m * time.Minute
	}
	if d > 0 {
		b.WriteString(d.String()) // under a minute: 1.5s, 500ms
	}
	return b.String()
}
