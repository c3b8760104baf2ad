package registry

import (
	"fmt"
	"strings"

	"github.com/tokenward/terraform-provider-tokenward/internal/seal"
)

// Warning is something about a Config that works but should not be left
// so: a fixed clock, a master key file others may read.
type Warning struct {
	Summary, Detail string
}

// Warnings says what is risky in the configuration Open would use; the
// binary prints each on stderr and the provider shows them as warnings.
// They never hold a key or a DSN.
func Warnings(cfg Config) []Warning {
	getenv := cfg.getenv()
	var out []Warning
	if v := strings.TrimSpace(getenv(EnvNow)); v != "" {
		out = append(out, Warning{
			Summary: EnvNow + " is set: the clock is fixed",
			Detail: fmt.Sprintf("%s=%s: tokens are issued, rotated and verified as if it were that time. "+
				"It is for tests and drills only; unset it everywhere else.", EnvNow, v),
		})
	}
	keyFile := cfg.MasterKeyFile
	if keyFile == "" && strings.TrimSpace(getenv(seal.EnvKey)) == "" {
		keyFile = getenv(seal.EnvKeyFile)
	}
	if keyFile != "" {
		if mode, loose := seal.LooseKeyFile(keyFile); loose {
			out = append(out, Warning{
				Summary: "the master key file is readable by others",
				Detail: fmt.Sprintf("%s has mode %04o: its group or other users may read or change the master key, which opens every sealed value. "+
					"Make it the owner's alone: chmod 600 %s", keyFile, mode, keyFile),
			})
		}
	}
	return out
}
