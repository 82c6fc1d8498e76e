variable "project" {
  description = "GCP project id"
  type        = string
}

variable "region" {
  description = "GCP region"
  type        = string
}

variable "github_owner" {
  description = "GitHub owner of the repository (connected to Cloud Build beforehand)"
  type        = string
}

variable "github_repository" {
  description = "GitHub repository name"
  type        = string
}

variable "branch" {
  description = "Branch whose pushes deploy"
  type        = string
  default     = "main"
}
