package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
)

// This file renders a user's configuration as the configuration API
// answers it:
//
//	{"user": "alice", "revision": 12, "values": {"<key>": {"value": <native JSON>,
//	  "source": "default"|"user"|"enforced", "sensitive": false, "managed_by": "terraform"|null}}}
//
// A sensitive value is null unless the caller may see it
// (tokenward:config-read-sensitive); one the caller may see but the server
// cannot open (no master key) is null with "sealed": true. The events
// streams share it.

// renderUserConfig renders uc; showSensitive: the caller may see
// sensitive values.
func renderUserConfig(uc registry.UserConfig, showSensitive bool) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(64 + 96*len(uc.Values))
	b.WriteString(`{"user":`)
	writeJSONString(&b, uc.User)
	b.WriteString(`,"revision":`)
	b.WriteString(strconv.FormatInt(uc.Revision, 10))
	b.WriteString(`,"values":{`)
	for i, v := range uc.Values {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, v.Key)
		b.WriteByte(':')
		if err := renderConfigValue(&b, v, showSensitive); err != nil {
			return nil, err
		}
	}
	b.WriteString("}}\n")
	return b.Bytes(), nil
}

// renderConfigKey renders one key of uc as GET /v1/users/{user}/config/{key}
// answers it: {"user", "revision", "key", and the value's fields}.
func renderConfigKey(uc registry.UserConfig, v registry.ConfigValue, showSensitive bool) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"user":`)
	writeJSONString(&b, uc.User)
	b.WriteString(`,"revision":`)
	b.WriteString(strconv.FormatInt(uc.Revision, 10))
	b.WriteString(`,"key":`)
	writeJSONString(&b, v.Key)
	b.WriteByte(',')
	var one bytes.Buffer
	if err := renderConfigValue(&one, v, showSensitive); err != nil {
		return nil, err
	}
	b.Write(one.Bytes()[1:]) // the value's object, without its opening brace
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// renderConfigValue writes one value's object.
func renderConfigValue(b *bytes.Buffer, v registry.ConfigValue, showSensitive bool) error {
	b.WriteString(`{"value":`)
	switch {
	case v.Sensitive && (!showSensitive || v.Sealed || v.Value == nil):
		b.WriteString("null")
	case v.Value == nil:
		b.WriteString("null")
	default:
		if err := json.Compact(b, v.Value); err != nil {
			// Never quoted: the value may be sensitive.
			return fmt.Errorf("render the value of %s: it is not valid JSON", v.Key)
		}
	}
	b.WriteString(`,"source":`)
	writeJSONString(b, v.Source)
	b.WriteString(`,"sensitive":`)
	b.WriteString(strconv.FormatBool(v.Sensitive))
	if v.Sensitive && showSensitive && (v.Sealed || v.Value == nil) {
		b.WriteString(`,"sealed":true`)
	}
	b.WriteString(`,"managed_by":`)
	if v.ManagedBy == "" {
		b.WriteString("null")
	} else {
		writeJSONString(b, v.ManagedBy)
	}
	b.WriteByte('}')
	return nil
}

// writeJSONString writes s as a JSON string.
func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}
