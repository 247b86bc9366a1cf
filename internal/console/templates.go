package console

import (
	"html/template"
	"io/fs"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

// funcs are the templates' helpers. None returns trusted HTML: what they return is
// escaped like everything else.
var funcs = template.FuncMap{
	"isHTTP":      isHTTP,
	"isEmail":     isEmail,
	"bytes":       hangar.FormatBytes,
	"datetime":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"took":        took,
	"join":        strings.Join,
	"imageOf":     imageOf,
	"actions":     func() []string { return []string{"start", "stop", "restart", "deallocate"} },
	"osTypes":     func() []string { return []string{string(hangar.OSLinux), string(hangar.OSWindows)} },
	"osStates":    func() []string { return []string{string(hangar.Generalized), string(hangar.Specialized)} },
	"generations": func() []string { return []string{"V1", "V2"} },
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}

// took is how long a run took, to the millisecond (to the microsecond under one).
func took(from, to time.Time) string {
	d := to.Sub(from)
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// imageOf returns the image an image reference names, without its version (a
// disk's users are NAME@VERSION).
func imageOf(ref string) string {
	if r, err := hangar.ParseRef(ref); err == nil && r.Kind == hangar.RefOwn {
		return r.Name
	}
	return ref
}

// isHTTP says whether s is an absolute http(s) URL, the only kind made a link.
func isHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		!strings.ContainsAny(s, " \t\r\n\"'<>`")
}

// isEmail says whether s is a bare e-mail address, the only kind made a mailto link.
func isEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && !strings.ContainsAny(s, " \"<>()`?")
}

// parsePages parses each page template with the layout and the shared parts
// (the files whose names start with "_").
func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return pages
}
