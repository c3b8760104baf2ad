package review

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	tfjson "github.com/hashicorp/terraform-json"
)

// maxPlanSize bounds the plan JSON Read accepts. Plans of ten thousand
// resources are a few tens of megabytes.
const maxPlanSize = 512 << 20

const showJSON = "make it with `terraform plan -out=plan.tfplan` and `terraform show -json plan.tfplan > plan.json`"

// Read reads the JSON of a Terraform plan, as `terraform show -json
// PLANFILE` writes it. Anything else (a binary plan file, the JSON of a
// state, any other JSON) is refused with an error that says how to make
// the right file.
func Read(r io.Reader) (*tfjson.Plan, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPlanSize+1))
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if len(data) > maxPlanSize {
		return nil, fmt.Errorf("read plan: larger than %d MiB", maxPlanSize>>20)
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, errors.New("read plan: the file is empty; " + showJSON)
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return nil, errors.New("read plan: this is a binary plan file, not its JSON; run `terraform show -json` on it and pass the output")
	case trimmed[0] != '{':
		return nil, errors.New("read plan: not JSON; " + showJSON)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &keys); err != nil {
		return nil, fmt.Errorf("read plan: not valid JSON (%v); %s", err, showJSON)
	}
	_, hasChanges := keys["resource_changes"]
	_, hasPlanned := keys["planned_values"]
	_, hasFormat := keys["format_version"]
	if !hasFormat || (!hasChanges && !hasPlanned) {
		if _, state := keys["values"]; state && hasFormat {
			return nil, errors.New("read plan: this is the JSON of a Terraform state, not of a plan; " + showJSON)
		}
		return nil, errors.New("read plan: this JSON is not a Terraform plan (it has no format_version and planned_values); " + showJSON)
	}
	var plan tfjson.Plan
	if err := json.Unmarshal(trimmed, &plan); err != nil {
		return nil, fmt.Errorf("read plan: %w; %s", err, showJSON)
	}
	return &plan, nil
}
