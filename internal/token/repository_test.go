package token

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestNoTokenInTheRepository: no file of the source tree holds a value in
// the wire format, the pattern secret scanners match, so no test fixture,
// golden file or example can leak a real token or cry wolf.
func TestNoTokenInTheRepository(t *testing.T) {
	t.Parallel()
	shape := regexp.MustCompile(`tw_[0-9A-Za-z]{50}`)
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() || info.Size() > 4<<20 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		if loc := shape.FindIndex(b); loc != nil {
			t.Errorf("%s holds a token-shaped value at byte %d", path, loc[0])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d files checked: the walk did not reach the source tree", checked)
	}
}
