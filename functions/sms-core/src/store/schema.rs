//! The table's key schema, for tools that create it outside CloudFormation (the local stack
//! and tests). template.yaml declares the same table for AWS.
