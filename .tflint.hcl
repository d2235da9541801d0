# tflint configuration of every Terraform module under terraform/ (aicluster/iac_checks.py).
# Plugins are found in the folder TFLINT_PLUGIN_DIR names (built from bom.yaml's binary sets),
# so no plugin block has a source. The aws and google rulesets are not listed: their Go modules
# cannot be fetched here, so iac_checks reports them as unavailable.

config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}

plugin "azurerm" {
  enabled = true
}
