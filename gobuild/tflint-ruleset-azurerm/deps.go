//go:build deps

// Package deps pins the TFLint azurerm ruleset plugin for this build module: the imports of its
// main package that live outside the standard library, so that go.sum covers them.
package deps

import (
	_ "github.com/terraform-linters/tflint-plugin-sdk/plugin"
	_ "github.com/terraform-linters/tflint-plugin-sdk/tflint"
	_ "github.com/terraform-linters/tflint-ruleset-azurerm/project"
	_ "github.com/terraform-linters/tflint-ruleset-azurerm/rules"
)
