variable "project" {
  description = "GCP project id"
  type        = string
}

variable "region" {
  description = "GCP region, e.g. southamerica-east1"
  type        = string
}

variable "instance_name" {
  description = "Cloud SQL instance name"
  type        = string
  default     = "tabletime-source"
}

variable "tier" {
  description = "Cloud SQL machine tier"
  type        = string
  default     = "db-custom-2-7680"
}

variable "capture_user" {
  description = "MySQL user capture connects as"
  type        = string
  default     = "tabletime"
}

variable "binlog_retention_seconds" {
  description = "How long the server keeps binlogs: capture stopped longer than this must start over"
  type        = number
  default     = 604800
}

variable "private_network" {
  description = "VPC self link for a private IP (null: public IP with TLS only)"
  type        = string
  default     = null
}
