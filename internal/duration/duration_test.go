package duration

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"90d", 90 * Day},
		{"1d", 24 * time.Hour},
		{"24h", Day},
		{"1w", 7 * Day},
		{"2w3d", 17 * Day},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"45m", 45 * time.Minute},
		{"1h30m10s", time.Hour + 30*time.Minute + 10*time.Second},
		{"500ms", 500 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := Parse(c.in)
			if err != nil || got != c.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "d", "90", "90x", "-1d", "1d-2h", "1..2d", " 1d", "1d ", "99999999999w"} {
		t.Run(in, func(t *testing.T) {
			if _, err := Parse(in); !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) = %v; want ErrSyntax", in, err)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{Day, "1d"},
		{Week, "7d"},
		{90 * Day, "90d"},
		{36 * time.Hour, "1d12h"},
		{90 * time.Minute, "1h30m"},
		{Day + 1500*time.Millisecond, "1d1.5s"},
		{250 * time.Millisecond, "250ms"},
	}
	for _, c := range cases {
		if got := Format(c.in); got != c.want {
			t.Errorf("Format(%v) = %q; want %q", c.in, got, c.want)
		}
		if back, err := Parse(c.want); err != nil || back != c.in {
			t.Errorf("Parse(Format(%v)) = %v, %v", c.in, back, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"90d", "1d12h", "1w", "1.5s", "0", "", "-1d", "1e9d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrSyntax", s, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("Parse(%q) = %v, negative", s, d)
		}
		back, err := Parse(Format(d))
		if err != nil {
			t.Fatalf("Parse(Format(%v)) = %v", d, err)
		}
		// Decimal parts round to the nanosecond; the canonical form is exact.
		if back != d {
			t.Fatalf("Parse(Format(%v)) = %v", d, back)
		}
	})
}
