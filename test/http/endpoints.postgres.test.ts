import { databaseAvailable } from "../helpers/databases.ts";
import { describeEndpoints } from "./endpoints.ts";

describeEndpoints("postgres", await databaseAvailable("postgres"));
