-- Runs once, when the compose PostgreSQL starts on an empty volume.
-- One database per service, each owned by a role of its own: a service can reach only its
-- own data, as it will in production where each service has its own cluster.
-- The passwords are for local use only; production URLs come from a Kubernetes Secret.

CREATE ROLE orderly_order LOGIN PASSWORD 'orderly_order';
CREATE DATABASE orderly_order OWNER orderly_order;
REVOKE CONNECT ON DATABASE orderly_order FROM PUBLIC;

CREATE ROLE orderly_inventory LOGIN PASSWORD 'orderly_inventory';
CREATE DATABASE orderly_inventory OWNER orderly_inventory;
REVOKE CONNECT ON DATABASE orderly_inventory FROM PUBLIC;

CREATE ROLE orderly_payment LOGIN PASSWORD 'orderly_payment';
CREATE DATABASE orderly_payment OWNER orderly_payment;
REVOKE CONNECT ON DATABASE orderly_payment FROM PUBLIC;

CREATE ROLE orderly_notification LOGIN PASSWORD 'orderly_notification';
CREATE DATABASE orderly_notification OWNER orderly_notification;
REVOKE CONNECT ON DATABASE orderly_notification FROM PUBLIC;

CREATE ROLE orderly_analytics LOGIN PASSWORD 'orderly_analytics';
CREATE DATABASE orderly_analytics OWNER orderly_analytics;
REVOKE CONNECT ON DATABASE orderly_analytics FROM PUBLIC;

CREATE ROLE orderly_support LOGIN PASSWORD 'orderly_support';
CREATE DATABASE orderly_support OWNER orderly_support;
REVOKE CONNECT ON DATABASE orderly_support FROM PUBLIC;
