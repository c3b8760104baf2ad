package destination

import (
	"context"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// Masked returns a writer that hands each value to mask before w writes it
// anywhere, so a log that hides the strings it is told of (a GitHub
// workflow's) can never show one that later output prints.
func Masked(w Writer, mask func(value string)) Writer { return masking{Writer: w, mask: mask} }

// masking is the writer Masked returns.
type masking struct {
	Writer
	mask func(string)
}

func (m masking) Write(ctx context.Context, d store.Destination, value string) error {
	m.mask(value)
	return m.Writer.Write(ctx, d, value)
}
