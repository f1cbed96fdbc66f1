import { databaseAvailable } from "../helpers/databases.ts";
import { describeEndpoints } from "./endpoints.ts";

describeEndpoints("mysql", await databaseAvailable("mysql"));
