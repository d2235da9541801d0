//go:build deps

// Package deps pins TFLint for this build module: the imports of its main package that live
// outside the standard library, so that go.sum covers them. The terraform ruleset is bundled
// in the tflint binary (tflint --act-as-bundled-plugin).
package deps

import (
	_ "github.com/mattn/go-colorable"
	_ "github.com/terraform-linters/tflint/cmd"
)
