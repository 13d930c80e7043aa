/** A launch template of a project: its name (unique in the project) and which of its versions is the default. */
export interface LaunchTemplateTable {
  id: string
  project_id: string
  name: string
  description: string | null
  /** The version servers are launched from unless one is named; 1 on create. */
  default_version: number
  /** The highest version number the template has. */
  latest_version: number
  created_at: string
  updated_at: string
}

/** A version of a launch template: the template data as given, and the ids its list filters by. */
export interface LaunchTemplateVersionTable {
  /** `version_id` */
  id: string
  template_id: string
  /** The template's project, so that a project's versions are listed without a join. */
  project_id: string
  /** 1, 2, … per template. */
  version_number: number
  version_description: string | null
  /** JSON of `template_data` exactly as the request gave it (the API does not check it). */
  template_data: string
  /** `template_data.flavor_id`, for the `flavor_id` filter. */
  flavor_id: string | null
  /** The `source_id` of the first image-sourced block device mapping, for the `image_id` filter. */
  image_id: string | null
  created_at: string
}
