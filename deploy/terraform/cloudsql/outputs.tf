output "connection_name" {
  description = "For the Cloud SQL connector / Auth Proxy"
  value       = google_sql_database_instance.source.connection_name
}

output "address" {
  description = "The instance's first IP address"
  value       = google_sql_database_instance.source.first_ip_address
}

output "capture_password_secret" {
  description = "Secret Manager secret holding the capture user's password"
  value       = google_secret_manager_secret.capture_password.secret_id
}
