// Test operator: registers no handler.
export * from "../assembly/exports";
