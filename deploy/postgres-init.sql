-- One database and role per service: services never read each other's data.
CREATE ROLE intake LOGIN PASSWORD 'change-me-intake';
CREATE DATABASE intake OWNER intake;
CREATE ROLE routing LOGIN PASSWORD 'change-me-routing';
CREATE DATABASE routing OWNER routing;
CREATE ROLE deadlines LOGIN PASSWORD 'change-me-deadlines';
CREATE DATABASE deadlines OWNER deadlines;
