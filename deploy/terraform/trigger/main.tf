# Step 5 of the blueprint: a Cloud Build trigger on the GitHub repository. Every push to the
# branch runs deploy/cloudbuild.yaml: tests, image to Artifact Registry, `terraform apply` of
# stream/. Apply this folder once by hand (docs/deploy-gcp.md).

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = { source = "hashicorp/google", version = ">= 6.0" }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

resource "google_artifact_registry_repository" "images" {
  repository_id = "tabletime"
  location      = var.region
  format        = "DOCKER"
}

resource "google_storage_bucket" "terraform_state" {
  name                        = "${var.project}-tabletime-terraform-state"
  location                    = var.region
  uniform_bucket_level_access = true
  versioning {
    enabled = true
  }
}

# Cloud Build runs as this account: it builds, pushes, and applies stream/.
resource "google_service_account" "build" {
  account_id   = "tabletime-build"
  display_name = "tabletime: Cloud Build deploys"
}

resource "google_project_iam_member" "build" {
  for_each = toset([
    "roles/artifactregistry.writer",
    "roles/storage.admin",
    "roles/pubsub.admin",
    "roles/bigquery.admin",
    "roles/run.admin",
    "roles/compute.instanceAdmin.v1",
    "roles/datastream.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/resourcemanager.projectIamAdmin",
    "roles/secretmanager.admin",
    "roles/logging.logWriter",
  ])
  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.build.email}"
}

resource "google_cloudbuild_trigger" "deploy" {
  name            = "tabletime-deploy"
  location        = var.region
  filename        = "deploy/cloudbuild.yaml"
  service_account = google_service_account.build.id

  github {
    owner = var.github_owner
    name  = var.github_repository
    push {
      branch = "^${var.branch}$"
    }
  }

  substitutions = {
    _REGION     = var.region
    _REPOSITORY = google_artifact_registry_repository.images.repository_id
    _TF_STATE   = google_storage_bucket.terraform_state.name
  }
}
