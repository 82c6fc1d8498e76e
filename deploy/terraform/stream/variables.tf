variable "project" {
  description = "GCP project id"
  type        = string
}

variable "region" {
  description = "GCP region"
  type        = string
}

variable "zone" {
  description = "Zone of the capture VM"
  type        = string
}

variable "name" {
  description = "A short name for this pipeline (resource names start with tabletime-NAME)"
  type        = string
  default     = "main"
}

variable "image" {
  description = "The tabletime image (Artifact Registry), set by Cloud Build"
  type        = string
}

variable "network" {
  description = "VPC of the capture VM (it must reach the source)"
  type        = string
  default     = "default"
}

variable "source_url" {
  description = "mysql://USER@HOST:3306/ of the source; the password comes from Secret Manager"
  type        = string
}

variable "capture_password_secret" {
  description = "Secret Manager secret id of the capture user's password (output of cloudsql/)"
  type        = string
}

variable "tables" {
  description = "Tables to capture: db.t1,db.*"
  type        = string
}

variable "capture_machine_type" {
  description = "Machine type of the capture VM"
  type        = string
  default     = "e2-small"
}

variable "apply_workers" {
  description = "Apply workers in the Cloud Run worker pool (each one CPU); see docs/scale-out.md"
  type        = number
  default     = 2
}

variable "bigquery_location" {
  description = "Location of the history dataset"
  type        = string
  default     = "US"
}

variable "change_file_retention_days" {
  description = "Days change files stay in the bucket (the history is in BigQuery)"
  type        = number
  default     = 30
}

variable "use_datastream" {
  description = "Let Google Datastream write the change files instead of tabletime's capture"
  type        = bool
  default     = false
}

variable "source_host" {
  description = "Datastream only: the source's host name or IP"
  type        = string
  default     = ""
}

variable "datastream_user" {
  description = "Datastream only: its MySQL user"
  type        = string
  default     = "datastream"
}

variable "datastream_password" {
  description = "Datastream only: its MySQL password (pass it with TF_VAR_datastream_password, never in a file)"
  type        = string
  default     = ""
  sensitive   = true
}

variable "datastream_databases" {
  description = "Datastream only: databases to stream"
  type        = list(string)
  default     = []
}

variable "datastream_file_rotation_mb" {
  description = "Datastream only: a change file is closed at this size (MB)"
  type        = number
  default     = 50
}

variable "datastream_file_rotation_interval" {
  description = "Datastream only: a change file is closed after this long (freshness!)"
  type        = string
  default     = "15s"
}
