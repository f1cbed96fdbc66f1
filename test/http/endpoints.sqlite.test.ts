import { databaseAvailable } from "../helpers/databases.ts";
import { describeEndpoints } from "./endpoints.ts";

describeEndpoints("sqlite", await databaseAvailable("sqlite"));
