package provider

import "testing"

// TestTokenShortcutKnowsTheSchema: the shortcut answers for the token's
// schema as it is. When a new default or plan modifier makes it decline
// everything, this fails and says which: teach inspect (and idleModifiers)
// about it, after checking it leaves an unchanged token's plan alone.
func TestTokenShortcutKnowsTheSchema(t *testing.T) {
	s := newTokenShortcut()
	if !s.usable {
		t.Fatalf("the shortcut declines every token: %v", s.unusable)
	}
	want := map[string]bool{"ttl": true, "rotate_before": true, "overlap": true, "honeytoken": true, "files.format": true}
	got := map[string]bool{}
	for _, d := range s.defaults {
		name := d.attr
		if d.nested != "" {
			name += "." + d.nested
		}
		got[name] = true
	}
	for n := range want {
		if !got[n] {
			t.Errorf("the shortcut does not check the default of %s", n)
		}
	}
}
