package review

import (
	"encoding/json"
	"fmt"
)

func reviewSetting(ch *Change, r resource) {
	ch.Name = r.name("key")
	key := code(ch.Name)
	add := func(l Level, c Category, format string, args ...any) {
		ch.Flags = append(ch.Flags, Flag{Level: l, Category: c, Message: fmt.Sprintf(format, args...)})
	}
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
		add(Info, Data, "a new setting %s applies to every user", key)
	case Delete:
		add(Warn, Breakage, "setting %s is deleted: its default and every user's value of it are removed", key)
	case Replace:
		add(Warn, Breakage, "setting %s is replaced: every user's value of it is removed", code(str(r.before["key"])))
	case Update:
		if r.changed("type") {
			add(High, Breakage, "the type of %s changes from %s to %s: readers that parse the value break, and user values of the old type no longer fit",
				key, r.show(false, "type"), r.show(true, "type"))
		}
		if r.changed("default") {
			if secret {
				add(Warn, Breakage, "the default of %s changes (a sensitive value, not shown): users without their own value get the new one", key)
			} else {
				add(Warn, Breakage, "the default of %s changes from %s to %s: users without their own value get the new one",
					key, r.show(false, "default"), r.show(true, "default"))
			}
		}
		if r.before["user_editable"] == true && r.after["user_editable"] == false {
			add(Warn, Breakage, "%s is no longer user-editable: the default is enforced and users' own values stop applying", key)
		}
		if sensitiveBefore && !sensitiveAfter {
			add(High, Data, "%s is no longer sensitive: its values are no longer sealed and will show in plans, state and `tokenward config get`", key)
		}
		if !sensitiveBefore && sensitiveAfter {
			add(Info, Data, "%s becomes sensitive: its values are sealed from now on", key)
		}
		if sensitiveAfter && r.changed("sensitive_default_revision") {
			add(Info, Data, "the sensitive default of %s changes (not shown)", key)
		}
		for _, attr := range []string{"allowed_values", "min", "max", "pattern"} {
			if r.changed(attr) {
				add(Info, Breakage, "the constraints of %s change (%s): a user's value that no longer fits is refused on its next change", key, attr)
				break
			}
		}
	}
}

func reviewUserConfig(ch *Change, r resource) {
	ch.Name = r.name("user")
	user := code(ch.Name)
	add := func(l Level, c Category, format string, args ...any) {
		ch.Flags = append(ch.Flags, Flag{Level: l, Category: c, Message: fmt.Sprintf(format, args...)})
	}
	if r.sensitive("values") || (r.after != nil && r.unknown("values")) {
		ch.Details = append(ch.Details, "values: "+sensitiveOrUnknown(r, "values"))
	} else {
		before, after := asObject(nil), asObject(nil)
		if r.before != nil {
			before = asObject(r.before["values"])
		}
		if r.after != nil {
			after = asObject(r.after["values"])
		}
		for _, k := range sortedKeys(before, after) {
			b, inBefore := before[k]
			a, inAfter := after[k]
			switch {
			case !inBefore:
				ch.Details = append(ch.Details, fmt.Sprintf("value: +%s = %s", code(k), jsonCode(a)))
			case !inAfter:
				ch.Details = append(ch.Details, fmt.Sprintf("value: -%s", code(k)))
			case jsonCode(a) != jsonCode(b):
				ch.Details = append(ch.Details, fmt.Sprintf("value: %s = %s → %s", code(k), jsonCode(b), jsonCode(a)))
			default:
				ch.Details = append(ch.Details, fmt.Sprintf("value: %s = %s", code(k), jsonCode(a)))
			}
		}
	}
	if !r.sensitive("sensitive_keys") {
		var before, after []string
		if r.before != nil {
			before = strs(r.before["sensitive_keys"])
		}
		if r.after != nil {
			after = strs(r.after["sensitive_keys"])
		}
		if len(before)+len(after) > 0 {
			ch.Details = append(ch.Details, "sensitive values of: "+marks(before, after))
		}
	}
	switch ch.Action {
	case Create:
		add(Info, Data, "user %s gets their own configuration", user)
	case Delete, Replace:
		add(Info, Breakage, "the values of user %s are removed: the defaults apply to them", code(str(r.before["user"])))
	case Update:
		if r.changed("values") {
			add(Info, Data, "the values of user %s change", user)
		}
		if r.changed("sensitive_values_revision") {
			add(Info, Data, "sensitive values of user %s change (not shown)", user)
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
