variable "region" {
  description = "AWS region of every resource (AWS_REGION of the service)."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of every resource's name; one per deployment."
  type        = string
  default     = "bookstore"
}

variable "max_receives" {
  description = "Receives of a message before the queue moves it to the dead-letter queue."
  type        = number
  default     = 5
}
