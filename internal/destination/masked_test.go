package destination

import (
	"context"
	"errors"
	"testing"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// maskRecorder is a writer that notes what it was asked to do, and fails when
// told to.
type maskRecorder struct {
	calls []string
	err   error
}

func (r *maskRecorder) Write(_ context.Context, d store.Destination, value string) error {
	r.calls = append(r.calls, "write "+d.Key+" "+value)
	return r.err
}

func (r *maskRecorder) Delete(_ context.Context, d store.Destination) error {
	r.calls = append(r.calls, "delete "+d.Key)
	return r.err
}

// TestMaskedMasksBeforeWriting: the value is masked before the writer sees
// it, even when the write fails; a delete masks nothing.
func TestMaskedMasksBeforeWriting(t *testing.T) {
	t.Parallel()
	failed := errors.New("refused")
	rec := &maskRecorder{err: failed}
	w := Masked(rec, func(v string) { rec.calls = append(rec.calls, "mask "+v) })
	d := store.Destination{Kind: KindFile, Key: "file:/tmp/x"}
	if err := w.Write(t.Context(), d, "tw_secret"); !errors.Is(err, failed) {
		t.Fatalf("write: got %v, want the writer's error", err)
	}
	if err := w.Delete(t.Context(), d); !errors.Is(err, failed) {
		t.Fatalf("delete: got %v, want the writer's error", err)
	}
	want := []string{"mask tw_secret", "write file:/tmp/x tw_secret", "delete file:/tmp/x"}
	if len(rec.calls) != len(want) {
		t.Fatalf("calls %q, want %q", rec.calls, want)
	}
	for i := range want {
		if rec.calls[i] != want[i] {
			t.Fatalf("calls %q, want %q", rec.calls, want)
		}
	}
}
