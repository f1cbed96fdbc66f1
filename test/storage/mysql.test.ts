import { databaseAvailable } from "../helpers/databases.ts";
import { describeBehaviour } from "./behaviour.ts";

describeBehaviour("mysql", await databaseAvailable("mysql"));
