package seal

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFromEnv(t *testing.T) {
	t.Parallel()
	a, b, c := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	enc := func(k Key) string { return base64.StdEncoding.EncodeToString(k.material) }
	short := base64.StdEncoding.EncodeToString(testMaterial(9)[:16])
	const notB64 = "this-is-not*base64!"
	missing := filepath.Join(t.TempDir(), "no-such-key")

	tests := []struct {
		name    string
		key     string
		file    *string // contents of a key file to create; nil for none
		path    string  // TOKENWARD_MASTER_KEY_FILE when file is nil
		wantIDs []string
		wantErr error
		wantMsg []string // substrings the error must contain
		secrets []string // substrings the error must not contain
	}{
		{name: "single key", key: enc(a), wantIDs: []string{a.ID}},
		{name: "several keys", key: enc(b) + ", " + enc(a) + "\n" + enc(c), wantIDs: []string{b.ID, a.ID, c.ID}},
		{name: "url base64", key: base64.RawURLEncoding.EncodeToString(a.material), wantIDs: []string{a.ID}},
		{
			name:    "file with comments",
			file:    ptr("# current key\n" + enc(c) + "\n\n  # kept until rekey finishes\n" + enc(a) + ",\t" + enc(b) + "\n"),
			wantIDs: []string{c.ID, a.ID, b.ID},
		},
		{name: "key wins over file", key: enc(b), file: ptr(enc(a)), wantIDs: []string{b.ID}},
		{name: "blank key falls back to file", key: " \n", file: ptr(enc(a)), wantIDs: []string{a.ID}},
		{
			name:    "neither set",
			wantErr: ErrNoKey,
			wantMsg: []string{"TOKENWARD_MASTER_KEY ", "TOKENWARD_MASTER_KEY_FILE"},
		},
		{name: "file with only comments", file: ptr("# " + enc(a) + "\n"), wantErr: ErrNoKey, secrets: []string{enc(a)}},
		{
			name:    "bad base64",
			key:     enc(a) + "," + notB64,
			wantMsg: []string{"TOKENWARD_MASTER_KEY", "key 2", "must be base64 of 32 bytes"},
			secrets: []string{notB64, enc(a)},
		},
		{
			name:    "wrong length",
			key:     short,
			wantMsg: []string{"key 1", "must be base64 of 32 bytes"},
			secrets: []string{short},
		},
		{
			name:    "wrong length in file",
			file:    ptr("# header\n" + short + "\n"),
			wantMsg: []string{"master.key", "key 1", "must be base64 of 32 bytes"},
			secrets: []string{short},
		},
		{
			name:    "missing file",
			path:    missing,
			wantErr: fs.ErrNotExist,
			wantMsg: []string{"TOKENWARD_MASTER_KEY_FILE", missing},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"TOKENWARD_MASTER_KEY": tt.key, "TOKENWARD_MASTER_KEY_FILE": tt.path}
			if tt.file != nil {
				env["TOKENWARD_MASTER_KEY_FILE"] = filepath.Join(t.TempDir(), "master.key")
				if err := os.WriteFile(env["TOKENWARD_MASTER_KEY_FILE"], []byte(*tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			kr, err := FromEnv(func(name string) string { return env[name] })
			if tt.wantIDs != nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := kr.IDs(); !slices.Equal(got, tt.wantIDs) {
					t.Errorf("IDs = %v, want %v", got, tt.wantIDs)
				}
				if got := kr.PrimaryID(); got != tt.wantIDs[0] {
					t.Errorf("PrimaryID = %q, want %q", got, tt.wantIDs[0])
				}
				return
			}
			if err == nil {
				t.Fatalf("FromEnv = %v, want error", kr)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			assertSecretFree(t, err, tt.secrets...)
		})
	}
}

func ptr(s string) *string { return &s }
