package review

import (
	"encoding/json"
	"fmt"
)

func reviewSetting(ch *Change, r resource) {
	ch.Name = r.name("key")
	key := label(ch.Name)
	sensitiveBefore := r.before != nil && r.before["sensitive"] == true
	sensitiveAfter := r.after != nil && r.after["sensitive"] == true
	// A sensitive setting's values are never shown, even one that was set
	// in the plain default by mistake.
	secret := sensitiveBefore || sensitiveAfter || r.sensitive("default")

	ch.Details = append(ch.Details, "type: "+r.showChange("type"))
	if secret {
		ch.Details = append(ch.Details, "default: "+sensitiveText)
	} else {
		ch.Details = append(ch.Details, "default: "+r.showChange("default"))
	}
	ch.Details = append(ch.Details, "sensitive: "+r.showChange("sensitive"), "user_editable: "+r.showChange("user_editable"))

	switch ch.Action {
	case Create:
		ch.flag(Info, Data, "a new setting %s applies to every user", key)
	case Delete:
		ch.flag(Warn, Breakage, "setting %s is deleted: its default and every user's value of it are removed", key)
	case Replace:
		ch.flag(Warn, Breakage, "setting %s is replaced: every user's value of it is removed", label(r.nameOn(false, "key")))
	case Update:
		settingUpdate(ch, r, key, secret, sensitiveBefore, sensitiveAfter)
	}
}

func settingUpdate(ch *Change, r resource, key string, secret, sensitiveBefore, sensitiveAfter bool) {
	if r.changed("type") {
		ch.flag(High, Breakage, "the type of %s changes from %s to %s: readers that parse the value break, and user values of the old type no longer fit",
			key, r.show(false, "type"), r.show(true, "type"))
	}
	if r.changed("default") {
		if secret {
			ch.flag(Warn, Breakage, "the default of %s changes (a sensitive value, not shown): users without their own value get the new one", key)
		} else {
			ch.flag(Warn, Breakage, "the default of %s changes from %s to %s: users without their own value get the new one",
				key, r.show(false, "default"), r.show(true, "default"))
		}
	}
	if r.before["user_editable"] == true && r.after["user_editable"] == false {
		ch.flag(Warn, Breakage, "%s is no longer user-editable: the default is enforced and users' own values stop applying", key)
	}
	if sensitiveBefore && !sensitiveAfter {
		ch.flag(High, Data, "%s is no longer sensitive: its values are no longer sealed and will show in plans, state and `tokenward config get`", key)
	}
	if !sensitiveBefore && sensitiveAfter {
		ch.flag(Info, Data, "%s becomes sensitive: its values are sealed from now on", key)
	}
	if sensitiveAfter && r.changed("sensitive_default_revision") {
		ch.flag(Info, Data, "the sensitive default of %s changes (not shown)", key)
	}
	for _, attr := range []string{"allowed_values", "min", "max", "pattern"} {
		if r.changed(attr) {
			ch.flag(Info, Breakage, "the constraints of %s change (%s): a user's value that no longer fits is refused on its next change", key, attr)
			break
		}
	}
}

func reviewUserConfig(ch *Change, r resource, w world) {
	ch.Name = r.name("user")
	user := label(ch.Name)
	if r.hidden("values") {
		ch.Details = append(ch.Details, "values: "+sensitiveOrUnknown(r, "values"))
	} else {
		userValues(ch, r, w)
	}
	if !r.sensitive("sensitive_keys") {
		before, after := r.list(false, "sensitive_keys"), r.list(true, "sensitive_keys")
		if len(before)+len(after) > 0 {
			ch.Details = append(ch.Details, "sensitive values of: "+marks(before, after))
		}
	}
	switch ch.Action {
	case Create:
		ch.flag(Info, Data, "user %s gets their own configuration", user)
	case Delete, Replace:
		ch.flag(Info, Breakage, "the values of user %s are removed: the defaults apply to them", label(r.nameOn(false, "user")))
	case Update:
		if r.changed("values") {
			ch.flag(Info, Data, "the values of user %s change", user)
		}
		if r.changed("sensitive_values_revision") {
			ch.flag(Info, Data, "sensitive values of user %s change (not shown)", user)
		}
	}
}

// userValues details a user's plain values, each with its change. The
// value of a setting that is sensitive on either side of the plan is not
// shown, and is flagged: a plain value is in state and plans.
func userValues(ch *Change, r resource, w world) {
	var before, after map[string]any
	if r.before != nil {
		before = asObject(r.before["values"])
	}
	if r.after != nil {
		after = asObject(r.after["values"])
	}
	for _, k := range sortedKeys(before, after) {
		b, inBefore := before[k]
		a, inAfter := after[k]
		show := func(v any) string {
			if w.settings[k] {
				return sensitiveText
			}
			return jsonCode(v)
		}
		switch {
		case !inBefore:
			ch.Details = append(ch.Details, fmt.Sprintf("value: +%s = %s", code(k), show(a)))
		case !inAfter:
			ch.Details = append(ch.Details, fmt.Sprintf("value: -%s", code(k)))
		case jsonCode(a) != jsonCode(b):
			ch.Details = append(ch.Details, fmt.Sprintf("value: %s = %s → %s", code(k), show(b), show(a)))
		default:
			ch.Details = append(ch.Details, fmt.Sprintf("value: %s = %s", code(k), show(a)))
		}
		if inAfter && w.settings[k] {
			ch.flag(High, Data, "the value of sensitive setting %s is given in plain `values`, so it is written to state and shown in plans: give it in `sensitive_values`", code(k))
		}
	}
}

func sortedKeys(ms ...map[string]any) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			keys = append(keys, k)
		}
	}
	return uniq(keys)
}

// jsonCode renders a plain configuration value as JSON in a code span.
func jsonCode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "(unreadable)"
	}
	return code(string(b))
}
