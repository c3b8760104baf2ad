package registry_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
	"github.com/tokenward/terraform-provider-tokenward/internal/seal/sealtest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// BenchmarkReadUserConfig reads one user's configuration of 20 settings
// (10 of them the user's own) from a SQLite store: what tokenward serve
// does on a cache miss.
func BenchmarkReadUserConfig(b *testing.B) {
	ctx := b.Context()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), store.Create())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	reg := registry.New(st, seal.NewKeyring(sealtest.Key(b)))
	own := map[string]json.RawMessage{}
	for i := range 20 {
		key := fmt.Sprintf("app.setting_%02d", i)
		if err := reg.CreateSetting(ctx, registry.SettingSpec{Key: key, Type: registry.TypeNumber, Default: json.RawMessage(`1`), UserEditable: true}); err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			own[key] = json.RawMessage(fmt.Sprint(i))
		}
	}
	if err := reg.UpdateUserValues(ctx, "alice", own, nil); err != nil {
		b.Fatal(err)
	}
	b.Run("ReadUserConfig", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			uc, err := reg.ReadUserConfig(ctx, "alice", false)
			if err != nil || len(uc.Values) != 20 {
				b.Fatal(len(uc.Values), err)
			}
		}
	})
	// EffectiveConfig, what the data source and the CLI read, for scale.
	b.Run("EffectiveConfig", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			eff, err := reg.EffectiveConfig(ctx, "alice")
			if err != nil || len(eff) != 20 {
				b.Fatal(len(eff), err)
			}
		}
	})
}
