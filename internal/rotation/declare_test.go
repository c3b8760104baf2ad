package rotation_test

import (
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/rotation"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

func TestSameDestinations(t *testing.T) {
	t.Parallel()
	d := func(key, config string) store.Destination { return store.Destination{Key: key, Config: []byte(config)} }
	a, b := d("file:/a#A", `{"path":"/a"}`), d("file:/b#B", `{"path":"/b"}`)
	cases := []struct {
		name string
		x, y []store.Destination
		want bool
	}{
		{"both empty", nil, []store.Destination{}, true},
		{"same order", []store.Destination{a, b}, []store.Destination{a, b}, true},
		{"other order", []store.Destination{a, b}, []store.Destination{b, a}, true},
		{"one more", []store.Destination{a}, []store.Destination{a, b}, false},
		{"same count, other places", []store.Destination{a, a}, []store.Destination{a, b}, false},
		{"same key, other configuration", []store.Destination{a}, []store.Destination{d(a.Key, `{"path":"/a","format":"raw"}`)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rotation.SameDestinations(tc.x, tc.y); got != tc.want {
				t.Errorf("sameDestinations = %v, want %v", got, tc.want)
			}
		})
	}
}
