# Step 1 of the blueprint: the source database. Cloud SQL for MySQL 8 with its binary log on, in
# the form capture needs (ROW, FULL row images, FULL row metadata), and a capture user with only
# the privileges `tabletime check` asks for. The user's password lives in Secret Manager.

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = { source = "hashicorp/google", version = ">= 6.0" }
    random = { source = "hashicorp/random", version = ">= 3.6" }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

resource "google_sql_database_instance" "source" {
  name                = var.instance_name
  database_version    = "MYSQL_8_0"
  region              = var.region
  deletion_protection = true

  settings {
    tier = var.tier

    backup_configuration {
      enabled            = true
      binary_log_enabled = true # log_bin
      start_time         = "03:00"
    }

    # What capture needs (see docs/capture.md); Cloud SQL's MySQL 8 logs in ROW format already.
    database_flags {
      name  = "binlog_row_image"
      value = "full"
    }
    database_flags {
      name  = "binlog_row_metadata"
      value = "full"
    }
    database_flags {
      name  = "binlog_expire_logs_seconds"
      value = tostring(var.binlog_retention_seconds)
    }
    database_flags {
      name  = "net_read_timeout"
      value = "3600"
    }
    database_flags {
      name  = "net_write_timeout"
      value = "3600"
    }

    ip_configuration {
      ipv4_enabled    = var.private_network == null
      private_network = var.private_network
      ssl_mode        = "ENCRYPTED_ONLY"
    }
  }
}

resource "random_password" "capture" {
  length  = 32
  special = false
}

resource "google_secret_manager_secret" "capture_password" {
  secret_id = "${var.instance_name}-tabletime-capture"
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "capture_password" {
  secret      = google_secret_manager_secret.capture_password.id
  secret_data = random_password.capture.result
}

# The capture user. Cloud SQL creates it with no privileges worth naming; the grants capture needs
# (and no more) are given with SQL, once, by an administrator:
#   GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'tabletime'@'%';
#   GRANT SELECT ON shop.* TO 'tabletime'@'%';
#   -- and, for the snapshot on MySQL (FLUSH TABLES WITH READ LOCK for an instant): RELOAD
# `tabletime check --strict-privileges` then confirms there is nothing more.
resource "google_sql_user" "capture" {
  name     = var.capture_user
  instance = google_sql_database_instance.source.name
  host     = "%"
  password = random_password.capture.result
}
