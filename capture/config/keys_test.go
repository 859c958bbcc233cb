package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Keys names exactly the properties Parse reads, once each: a key missing
// from Keys would be rejected by Fluent Bit as unknown, a key Parse ignores
// would be accepted and do nothing.
func TestKeysAreWhatParseReads(t *testing.T) {
	read := map[string]bool{}
	if _, err := Parse(func(k string) string { read[k] = true; return "" }, "x"); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, k := range Keys() {
		if listed[k.Name] {
			t.Errorf("Keys lists %q twice", k.Name)
		}
		listed[k.Name] = true
	}
	for _, k := range slices.Sorted(maps.Keys(listed)) {
		if !read[k] {
			t.Errorf("Keys lists %q, which Parse never reads", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(read)) {
		if !listed[k] {
			t.Errorf("Parse reads %q, missing from Keys", k)
		}
	}
}

// Every entry is complete, and of a type the config map knows.
func TestKeysAreWellFormed(t *testing.T) {
	types := []string{TypeStr, TypeInt, TypeBool, TypeSize, TypeTime, TypeCList}
	for _, k := range Keys() {
		if k.Name != strings.ToLower(k.Name) || strings.ContainsAny(k.Name, " =\t") {
			t.Errorf("%q: names are lower case, without spaces or =", k.Name)
		}
		if !slices.Contains(types, k.Type) {
			t.Errorf("%s: type %q, want one of %v", k.Name, k.Type, types)
		}
		if k.Description == "" || strings.ContainsAny(k.Description, "\n\r") {
			t.Errorf("%s: description %q, want one line", k.Name, k.Description)
		}
		// A typed key with no fixed default must say in -h what it does
		// when unset.
		if k.Default == "" && k.Type != TypeStr && k.Type != TypeCList && !strings.Contains(k.Description, "default") {
			t.Errorf("%s: no default and the description does not say what happens when unset", k.Name)
		}
	}
}

// Each listed default is what Parse does when the key is unset: giving it
// explicitly changes nothing.
func TestKeyDefaultsAreParseDefaults(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	unset, err := Parse(getter(nil), "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		if k.Default == "" {
			continue
		}
		c, err := Parse(getter(map[string]string{k.Name: k.Default}), "x")
		if err != nil {
			t.Errorf("%s=%s (its listed default): %v", k.Name, k.Default, err)
			continue
		}
		if !reflect.DeepEqual(c, unset) {
			t.Errorf("%s=%s (its listed default) gives\n %+v\nwant what unset gives\n %+v", k.Name, k.Default, c, unset)
		}
	}
}

// Fluent Bit turns the defaults into values when it creates the config map
// of every instance (flb_config_map_create): a boolean default it cannot
// read fails the instance. Times are written in the units both read alike.
func TestKeyDefaultsReadByFluentBit(t *testing.T) {
	flbBool := []string{"true", "on", "yes", "false", "off", "no"} // flb_utils_bool
	flbTime := regexp.MustCompile(`^[0-9]+[smhd]?$`)               // flb_utils_time_to_seconds
	flbSize := regexp.MustCompile(`^[0-9]+[KMG]?$`)                // flb_utils_size_to_bytes
	for _, k := range Keys() {
		if k.Default == "" {
			continue
		}
		switch k.Type {
		case TypeBool:
			if !slices.Contains(flbBool, strings.ToLower(k.Default)) {
				t.Errorf("%s: default %q is no boolean to Fluent Bit", k.Name, k.Default)
			}
		case TypeTime:
			if !flbTime.MatchString(k.Default) {
				t.Errorf("%s: default %q is not a time Fluent Bit reads the same", k.Name, k.Default)
			}
		case TypeSize:
			if !flbSize.MatchString(k.Default) {
				t.Errorf("%s: default %q is not a size Fluent Bit reads the same", k.Name, k.Default)
			}
		}
	}
}

// The type a key is registered with is the kind of value Parse takes for
// it: values of that type pass, others fail naming the key. (Fluent Bit
// checks names only; values are Parse's.)
func TestKeyTypesAreWhatParseTakes(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// What some keys need beside them to be valid at all.
	context := map[string]map[string]string{"docker_tls_verify": {"docker_tls_ca": ca}}
	samples := map[string]struct{ good, bad []string }{
		TypeBool: {[]string{"on", "off", "true", "false", "yes", "no", "On"}, []string{"maybe", "2"}},
		TypeTime: {[]string{"30s", "2m", "1h", "45", "1500ms"}, []string{"soon", "5x", "-1s"}},
		TypeSize: {[]string{"512K", "2M", "1G", "100000"}, []string{"big", "1T", "-1"}},
		TypeInt:  {[]string{"1", "42"}, []string{"x", "1.5"}},
	}
	for _, k := range Keys() {
		s, typed := samples[k.Type]
		if !typed {
			continue
		}
		for _, v := range s.good {
			props := map[string]string{k.Name: v}
			maps.Copy(props, context[k.Name])
			if _, err := Parse(getter(props), "x"); err != nil {
				t.Errorf("%s (%s) = %q: %v, want accepted", k.Name, k.Type, v, err)
			}
		}
		for _, v := range s.bad {
			props := map[string]string{k.Name: v}
			maps.Copy(props, context[k.Name])
			_, err := Parse(getter(props), "x")
			if err == nil || !strings.Contains(err.Error(), k.Name) {
				t.Errorf("%s (%s) = %q: error %v, want one naming the key", k.Name, k.Type, v, err)
			}
		}
	}
}
