output "bucket" {
  value = google_storage_bucket.changes.name
}

output "subscription" {
  value = google_pubsub_subscription.changes.id
}

output "dataset" {
  value = google_bigquery_dataset.history.dataset_id
}
