package units

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"text/template"
)

// PolkitFile is the rule's file name under /etc/polkit-1/rules.d. polkitd
// reads the files in name order and the first rule that answers wins
// (polkit(8)); this one answers only for its own user, units and verbs.
const PolkitFile = "60-council-probes.rules"

// PolkitVerbs are the systemctl verbs the rule grants on the two units:
// the restart of a remediation, the stop and start of a promotion or a
// restore, and reset-failed, which a unit that hit its start limit needs
// before it can start again.
var PolkitVerbs = []string{"start", "stop", "restart", "reset-failed"}

// PolkitRule is what the rule grants: User may run PolkitVerbs on Primary
// and Fallback.
type PolkitRule struct {
	User, Primary, Fallback string
	Verbs                   []string
	FileName                string
}

// NewPolkitRule validates the names and returns the rule.
func NewPolkitRule(user, primary, fallback string) (PolkitRule, error) {
	var errs []error
	if err := ValidateUserName(user); err != nil {
		errs = append(errs, fmt.Errorf("--user: %w", err))
	}
	p, err := ValidateUnitName(primary)
	if err != nil {
		errs = append(errs, fmt.Errorf("--primary: %w", err))
	}
	f, err := ValidateUnitName(fallback)
	if err != nil {
		errs = append(errs, fmt.Errorf("--fallback: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return PolkitRule{}, err
	}
	if p == f {
		return PolkitRule{}, fmt.Errorf("%w: the primary and the fallback are both %s", ErrInvalidName, p)
	}
	return PolkitRule{User: user, Primary: p, Fallback: f, Verbs: PolkitVerbs, FileName: PolkitFile}, nil
}

// jsString is the rule template's jsString function: a JavaScript string
// literal. The names are validated already; JSON's quoting (which escapes
// U+2028 and U+2029 too) is a second wall.
func jsString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// nameText is the rule template's name function: a validated name for a
// comment, refused if it holds anything a name may not.
func nameText(s string) (string, error) {
	if !nameChars.MatchString(s) {
		return "", fmt.Errorf("%w: %q in a comment", ErrInvalidName, s)
	}
	return s, nil
}

// PolkitTemplate returns the parsed rule template.
func PolkitTemplate() (*template.Template, error) {
	src, err := templateFS.ReadFile("templates/polkit.rules.tmpl")
	if err != nil {
		return nil, fmt.Errorf("polkit template: %w", err)
	}
	return template.New("polkit").Funcs(template.FuncMap{"jsString": jsString, "name": nameText}).Option("missingkey=error").Parse(string(src))
}

// Render renders the rules file.
func (r PolkitRule) Render() ([]byte, error) {
	t, err := PolkitTemplate()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("render polkit rule: %w", err)
	}
	return b.Bytes(), nil
}
