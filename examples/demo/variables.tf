variable "token_dir" {
  type        = string
  default     = null
  description = "The directory the token files are written to, as an absolute path. Defaults to tokens/ beside this configuration."
}

variable "widen" {
  type        = bool
  default     = false
  description = "Grant billing:* to the billing-export token: a widening for `tokenward review` to flag."
}
