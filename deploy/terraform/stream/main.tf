# Steps 2–4 of the blueprint: the bucket and its Pub/Sub notification, the subscription the apply
# workers share (with a dead-letter topic), the BigQuery dataset, least-privilege service
# accounts, the capture service, the apply workers, and — instead of tabletime's capture, if
# `use_datastream` — Google Datastream itself writing to the same bucket (apply reads either).
#
# Formatted (`terraform fmt`) but never planned or applied: provider downloads are impossible
# where it was written (see docs/deploy-gcp.md for what was and was not run).

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = { source = "hashicorp/google", version = ">= 6.49" } # cloud_run_v2_worker_pool scaling
  }
  # Cloud Build applies this folder: keep its state in a bucket (terraform init -backend-config).
  backend "gcs" {}
}

provider "google" {
  project = var.project
  region  = var.region
}

locals {
  prefix = "tabletime-${var.name}"
}

data "google_project" "this" {}

data "google_storage_project_service_account" "gcs" {}

# ---- the bucket, and a Pub/Sub message for every finished change file ----------------------

resource "google_storage_bucket" "changes" {
  name                        = "${var.project}-${local.prefix}-changes"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Change files only: the schemas and DDL records under _tabletime/ (.json) live as long as the
  # tables, or files written later could no longer be read.
  lifecycle_rule {
    condition {
      age            = var.change_file_retention_days
      matches_suffix = [".jsonl", ".jsonl.gz", ".avro"]
    }
    action { type = "Delete" }
  }
}

resource "google_pubsub_topic" "changes" {
  name = "${local.prefix}-changes"
}

resource "google_pubsub_topic" "dead_letters" {
  name = "${local.prefix}-changes-dead-letters"
}

resource "google_pubsub_topic_iam_member" "gcs_publishes" {
  topic  = google_pubsub_topic.changes.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# OBJECT_FINALIZE: a change file is complete when its object exists (capture and Datastream both
# write whole objects).
resource "google_storage_notification" "changes" {
  bucket         = google_storage_bucket.changes.name
  topic          = google_pubsub_topic.changes.id
  payload_format = "JSON_API_V1"
  event_types    = ["OBJECT_FINALIZE"]
  depends_on     = [google_pubsub_topic_iam_member.gcs_publishes]
}

resource "google_pubsub_subscription" "changes" {
  name                       = "${local.prefix}-apply"
  topic                      = google_pubsub_topic.changes.id
  ack_deadline_seconds       = 600 # a worker acknowledges a file only after its versions commit
  message_retention_duration = "604800s"
  # An acknowledgement is confirmed before the worker moves on (ackWithResponse).
  enable_exactly_once_delivery = true
  expiration_policy {
    ttl = "" # never expires
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letters.id
    max_delivery_attempts = 20
  }
}

resource "google_pubsub_subscription" "dead_letters" {
  name                       = "${local.prefix}-apply-dead-letters"
  topic                      = google_pubsub_topic.dead_letters.id
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
}

# Pub/Sub's own service agent moves undeliverable messages to the dead-letter topic.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letters.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  subscription = google_pubsub_subscription.changes.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# ---- the history store --------------------------------------------------------------------

resource "google_bigquery_dataset" "history" {
  dataset_id = replace("${local.prefix}_history", "-", "_")
  location   = var.bigquery_location
}

# ---- service accounts, each with only what it does ---------------------------------------

resource "google_service_account" "capture" {
  account_id   = "${local.prefix}-capture"
  display_name = "tabletime capture: reads the binlog, writes change files"
}

resource "google_service_account" "apply" {
  account_id   = "${local.prefix}-apply"
  display_name = "tabletime apply: reads change files, writes versions to BigQuery"
}

resource "google_storage_bucket_iam_member" "capture_writes" {
  bucket = google_storage_bucket.changes.name
  role   = "roles/storage.objectAdmin" # writes files and its checkpoint objects
  member = "serviceAccount:${google_service_account.capture.email}"
}

resource "google_secret_manager_secret_iam_member" "capture_reads_password" {
  secret_id = var.capture_password_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.capture.email}"
}

resource "google_storage_bucket_iam_member" "apply_reads" {
  bucket = google_storage_bucket.changes.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.apply.email}"
}

resource "google_pubsub_subscription_iam_member" "apply_pulls" {
  subscription = google_pubsub_subscription.changes.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.apply.email}"
}

resource "google_bigquery_dataset_iam_member" "apply_writes" {
  dataset_id = google_bigquery_dataset.history.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.apply.email}"
}

resource "google_project_iam_member" "apply_runs_jobs" {
  project = var.project
  role    = "roles/bigquery.jobUser" # load jobs and MERGE
  member  = "serviceAccount:${google_service_account.apply.email}"
}

# ---- capture: one instance, always on ----------------------------------------------------
# A small VM rather than Cloud Run: capture holds one replication connection for days and keeps
# its checkpoint on a persistent disk; Cloud Run instances are replaced at will and their disk is
# memory. One instance only: two captures of one source would write every change twice (harmless
# for the history, wasteful for everything else).

resource "google_compute_instance" "capture" {
  count        = var.use_datastream ? 0 : 1
  name         = "${local.prefix}-capture"
  machine_type = var.capture_machine_type
  zone         = var.zone

  boot_disk {
    initialize_params {
      image = "cos-cloud/cos-stable"
      size  = 20
    }
  }

  network_interface {
    network = var.network
  }

  service_account {
    email  = google_service_account.capture.email
    scopes = ["cloud-platform"]
  }

  metadata = {
    # Container-Optimized OS runs this container and restarts it when it stops.
    gce-container-declaration = yamlencode({
      spec = {
        restartPolicy = "Always"
        containers = [{
          image = var.image
          args = [
            "capture",
            "--source", var.source_url,
            "--tables", var.tables,
            "--data-dir", "/data",
            "--bucket", "gs://${google_storage_bucket.changes.name}",
          ]
          env = [{
            name  = "TABLETIME_SOURCE_PASSWORD_SECRET"
            value = "projects/${var.project}/secrets/${var.capture_password_secret}"
          }]
          volumeMounts = [{ name = "data", mountPath = "/data" }]
        }]
        volumes = [{ name = "data", hostPath = { path = "/mnt/stateful_partition/tabletime" } }]
      }
    })
  }
}

# ---- apply: workers sharing the subscription ---------------------------------------------
# A Cloud Run worker pool: made for pull workloads (no HTTP port to serve, CPU always allocated).
# The count is set, not autoscaled: Cloud Run scales services on requests, which pull workers do
# not receive; raise `apply_workers` for a backlog (docs/scale-out.md says how to size it).

resource "google_cloud_run_v2_worker_pool" "apply" {
  name         = "${local.prefix}-apply"
  location     = var.region
  launch_stage = "BETA"

  scaling {
    scaling_mode          = "MANUAL"
    manual_instance_count = var.apply_workers
  }

  template {
    service_account = google_service_account.apply.email
    containers {
      image = var.image
      args = [
        "apply",
        "--data-dir", "/tmp/tabletime", # a scratch copy of the files being applied
        "--notifications", "pubsub://${var.project}/${google_pubsub_subscription.changes.name}",
        "--bucket", "gs://${google_storage_bucket.changes.name}",
        "--store", "bigquery://${var.project}/${google_bigquery_dataset.history.dataset_id}",
      ]
      resources {
        limits = {
          cpu    = "1"
          memory = "1Gi"
        }
      }
    }
  }
}

# ---- or: Google Datastream writing the change files --------------------------------------

resource "google_datastream_connection_profile" "source" {
  count                 = var.use_datastream ? 1 : 0
  display_name          = "${local.prefix} source"
  location              = var.region
  connection_profile_id = "${local.prefix}-source"
  mysql_profile {
    hostname = var.source_host
    port     = 3306
    username = var.datastream_user
    password = var.datastream_password
  }
}

resource "google_datastream_connection_profile" "bucket" {
  count                 = var.use_datastream ? 1 : 0
  display_name          = "${local.prefix} bucket"
  location              = var.region
  connection_profile_id = "${local.prefix}-bucket"
  gcs_profile {
    bucket    = google_storage_bucket.changes.name
    root_path = "/datastream"
  }
}

resource "google_datastream_stream" "changes" {
  count         = var.use_datastream ? 1 : 0
  display_name  = "${local.prefix} changes"
  location      = var.region
  stream_id     = "${local.prefix}-changes"
  desired_state = "RUNNING"

  source_config {
    source_connection_profile = google_datastream_connection_profile.source[0].id
    mysql_source_config {
      include_objects {
        dynamic "mysql_databases" {
          for_each = var.datastream_databases
          content {
            database = mysql_databases.value
          }
        }
      }
    }
  }

  destination_config {
    destination_connection_profile = google_datastream_connection_profile.bucket[0].id
    gcs_destination_config {
      path                   = "/changes"
      file_rotation_mb       = var.datastream_file_rotation_mb
      file_rotation_interval = var.datastream_file_rotation_interval
      json_file_format {
        schema_file_format = "NO_SCHEMA_FILE"
        compression        = "GZIP"
      }
    }
  }

  backfill_all {}
}
